// The visit part of the day from Kotlin, over the reader [readerSection] connected (PIN verified):
// an online visit through the VPN simulator's cloud SAM with the card written, the same request id
// twice giving the same visit, then an offline visit (`setOnline(false)`) with F00B.
package homevisit.test

import java.util.UUID
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/**
 * Runs the visits over the reader [readerSection] left connected with the PIN verified. The app
 * should be enrolled by the enrolment section; if it is not, the first finish says `NotEnrolled`
 * and this section enrols with a fresh binding and finishes again under the same request id.
 * Leaves `day.state["online_visit_id"]`, `["offline_visit_id"]` for later sections.
 */
fun visitSection(day: Day) {
    val app = day.app
    if (day.state["reader_ready"] != true) {
        check("visit: the reader section left a connected reader", false)
        return
    }
    app.setOnline(true)

    // Online: cloud SAM, sequence number, card written and read back.
    val v = attempt("visit: begin (reads the patient card)") { runBlocking { app.beginVisit() } } ?: return
    val patient = v.patient()
    check("visit: the patient is shown masked", patient.nationalIdMasked.contains('*') && patient.nameMasked.contains('○'))
    val draft = v.draft()
    check("visit: a first visit is proposed as 01", draft.visitType == VisitType.WESTERN_OUTPATIENT && !draft.followUp)
    val refused = try { v.addDiagnosis("X99.999"); false } catch (e: HomeVisitException.Validation) { true }
    check("visit: an unknown ICD-10-CM code is refused", refused)
    check("visit: diagnoses are normalised", attempt("visit: add diagnoses") {
        listOf(v.addDiagnosis("I10"), v.addDiagnosis("e11.9"))
    } == listOf("I10", "E119"))
    attempt("visit: add a drug order") { v.addDrugOrder("AC45856100", "1", "TID", "PO", 7u.toUShort()) }
    attempt("visit: note and fees") { v.setNote("stable; continue home care"); v.setFees(1631u, 0u) }
    check("visit: the draft holds the order", v.draft().orders.map { it.code } == listOf("AC45856100"))

    val request = UUID.randomUUID().toString()
    val online = attempt("visit: finish online") {
        try {
            runBlocking { v.finish(request) }
        } catch (e: HomeVisitException.NotEnrolled) {
            val (qr, pin) = day.sims.newBinding()
            runBlocking { app.enrol(qr, pin, "kotlin-day") }
            runBlocking { v.finish(request) }
        }
    } ?: return
    day.state["online_visit_id"] = online.id
    check("visit: online visit has a normal sequence number (card written and read back)",
        online.sequenceNumber == "0001")
    check("visit: the visit code has 20 characters", online.visitCode.length == 20)

    // The UI retried (a timeout, a second tap): the same request id gives the same visit.
    val again = attempt("visit: finish again with the same request id") { runBlocking { v.finish(request) } }
    check("visit: the same request id gives the same visit", again?.id == online.id && again.visitCode == online.visitCode)
    val afterRetry = runBlocking { app.listVisits(100u, 0u) }
    check("visit: one visit stored, not two", afterRetry.count { it.id == online.id } == 1 && afterRetry.size == 1)

    // No signal: the abnormal path, the card is not written.
    app.setOnline(false)
    val off = attempt("visit: begin offline") { runBlocking { app.beginVisit() } } ?: return
    check("visit: a later visit of the same patient is proposed as AH",
        off.draft().visitType == VisitType.HOME_CARE_FOLLOW_UP && off.draft().followUp)
    attempt("visit: offline diagnosis") { off.addDiagnosis("J44.9") }
    val offline = attempt("visit: finish offline") { runBlocking { off.finish(UUID.randomUUID().toString()) } }
    check("visit: offline visit takes F00B", offline?.sequenceNumber == "F00B")
    offline?.let { day.state["offline_visit_id"] = it.id }
    check("visit: two visits stored", runBlocking { app.listVisits(100u, 0u) }.size == 2)
    app.setOnline(true)
}
