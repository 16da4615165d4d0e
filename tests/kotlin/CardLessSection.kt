// Card-less and emergency visits from Kotlin (issue 14 items 4 and 5), over the reader the reader
// section left connected (the demo patient's card in it): a card-less visit typed in from an ID
// document (a wrong check digit refused), paid out of pocket, its code taken offline and nothing
// uploaded; a chronic prescription on it refused with its own error; its card replacement the same
// day (within 10 working days) committed once with its upload; a replacement of a visit seen 30
// days ago refused as too late. Then an emergency visit at night with its +70% surcharge, one
// without an indication refused, and a second emergency of the same doctor for the patient the
// same day committed but not payable; both are on the 1-hour deadline report.
package homevisit.test

import java.util.UUID
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/** Unix ms of a Taiwan local time (UTC+8). */
private fun taiwanMs(y: Int, mo: Int, d: Int, h: Int, mi: Int): Long =
    java.time.LocalDateTime.of(y, mo, d, h, mi).toEpochSecond(java.time.ZoneOffset.ofHours(8)) * 1000

fun cardLessSection(day: Day) {
    val app = day.app
    if (day.state["reader_ready"] != true) {
        check("card-less: the reader section left a connected reader", false)
        return
    }
    app.setOnline(true)
    day.sims.clearFaults()
    attempt("card-less: practitioner PIN") { runBlocking { app.readers().verifyPractitionerPin(HPC_PIN) } }

    // A card-less visit: typed in, out of pocket, code offline, kept pending its card.
    val badId = try { app.beginCardLessVisit("A123456788", "王小明", "0290517"); null } catch (e: HomeVisitException) { e }
    check("card-less: a national ID with a wrong check digit is refused",
        badId is HomeVisitException.Validation && badId.field == "national_id", "$badId")
    val queuedBefore = runBlocking { app.outboxState() }.counts.queued
    val v = attempt("card-less: begin (patient typed in)") { app.beginCardLessVisit("A123456789", "王小明", "0290517") } ?: return
    check("card-less: the patient is shown masked", v.patient().nationalIdMasked.contains('*'))
    attempt("card-less: record the visit") {
        v.addDiagnosis("I10"); v.addDrugOrder("AC45856100", "1", "TID", "PO", 7u.toUShort())
        v.setFees(1631u, 50u); v.setOutOfPocket(1631u)
    }
    val cardLess = attempt("card-less: finish") { runBlocking { v.finish(UUID.randomUUID().toString()) } } ?: return
    check("card-less: visit code taken offline, no card written",
        cardLess.visitCode.length == 20 && !cardLess.cardWritten && cardLess.sequenceNumber.isEmpty())
    check("card-less: nothing uploaded while it waits for its card",
        runBlocking { app.outboxState() }.counts.queued == queuedBefore)
    val pending = attempt("card-less: listed") { app.cardLess().get(cardLess.id) }
    check("card-less: pending with what was paid and its deadline",
        pending?.state == CardLessState.PENDING && pending.paid == 1631u && pending.deadline != null, "$pending")
    check("card-less: the listing's toString shows no patient data",
        DEMO_PATIENTS.none { (id, name) -> pending.toString().contains(id) || pending.toString().contains(name) })

    val chronic = try { runBlocking { app.issuePrescription(cardLess.id, 2u.toUByte(), "0912345678") }; null } catch (e: HomeVisitException) { e }
    check("card-less: a chronic prescription is refused with its own error",
        chronic is HomeVisitException.ChronicRxCardLess && errorCode(chronic) == "chronic_rx_card_less", "$chronic")

    // The card brought the same day: the replacement, once.
    val request = UUID.randomUUID().toString()
    val replaced = attempt("card-less: replacement within 10 working days") {
        runBlocking { app.cardLess().replace(cardLess.id, request) }
    }
    check("card-less: the replacement takes the card's sequence number", replaced?.sequenceNumber?.length == 4, "${replaced?.sequenceNumber}")
    val again = attempt("card-less: the replacement again") { runBlocking { app.cardLess().replace(cardLess.id, UUID.randomUUID().toString()) } }
    check("card-less: the replacement is committed once", again?.id == replaced?.id)
    val after = attempt("card-less: after the replacement") { app.cardLess().get(cardLess.id) }
    check("card-less: replaced, with the refund (paid minus copayment)",
        after?.state == CardLessState.REPLACED && after.refundPoints == 1581u, "$after")
    check("card-less: the replacement's upload is queued",
        runBlocking { app.outboxState() }.counts.queued == queuedBefore + 1u)

    // A visit seen 30 days ago: too late.
    val late = try { runBlocking { app.beginReplacementVisit(System.currentTimeMillis() - 30L * 86_400_000) }; null } catch (e: HomeVisitException) { e }
    check("card-less: a replacement after 10 working days is refused",
        late is HomeVisitException.ReplacementTooLate && late.deadline < late.brought, "$late")

    // An emergency visit at night (Tue 2026-12-01 21:30–22:31: 31 minutes into late night).
    check("emergency: the 8 indications", app.emergencyIndications().size == 8)
    val em = attempt("emergency: begin") { runBlocking { app.beginVisit() } } ?: return
    attempt("emergency: diagnosis") { em.addDiagnosis("R50.9") }
    val none = try { em.setEmergency(listOf(), taiwanMs(2026, 12, 1, 21, 30), taiwanMs(2026, 12, 1, 22, 31)); null } catch (e: HomeVisitException) { e }
    check("emergency: no indication is refused", none is HomeVisitException.EmergencyNoIndication, "$none")
    val marking = attempt("emergency: mark with an indication") {
        em.setEmergency(listOf("fever"), taiwanMs(2026, 12, 1, 21, 30), taiwanMs(2026, 12, 1, 22, 31))
    }
    check("emergency: 31 minutes into late night is +70%",
        marking?.surchargePercent == 70u && marking.bracket == "late_night" && marking.claimMark == "ECE", "$marking")
    val first = attempt("emergency: finish") { runBlocking { em.finish(UUID.randomUUID().toString()) } } ?: return
    check("emergency: the first of the day is payable", app.emergencyOf(first.id)?.payable == true)

    val em2 = attempt("emergency: a second one the same day") { runBlocking { app.beginVisit() } } ?: return
    attempt("emergency: second marking") {
        em2.addDiagnosis("R50.9")
        em2.setEmergency(listOf("acute_pain", "fever"), taiwanMs(2026, 12, 1, 23, 10), taiwanMs(2026, 12, 1, 23, 40))
    }
    val second = attempt("emergency: finish the second") { runBlocking { em2.finish(UUID.randomUUID().toString()) } } ?: return
    val secondMarking = app.emergencyOf(second.id)
    check("emergency: the second of a doctor for a patient on one day is not payable",
        secondMarking?.payable == false && secondMarking.surchargePercent == 70u, "$secondMarking")
    // Not uploaded yet, each is at risk within its hour (one uploaded in time is off the list).
    val deadlines = attempt("emergency: the 1-hour deadline report") { app.emergencyDeadlines() } ?: return
    val entries = deadlines.atRisk + deadlines.missed
    check("emergency: tracked against the 1-hour deadline, not the 24-hour one",
        entries.all { it.dueAtUnixMs - it.visitedAtUnixMs == 3_600_000L } &&
            entries.map { it.visitId }.all { it == first.id || it == second.id }, "$deadlines")
}
