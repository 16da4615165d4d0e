// The visit part of the day from Kotlin, over the reader [readerSection] connected (PIN verified):
// an online visit through the VPN simulator's cloud SAM with the card written, the same request id
// twice giving the same visit, then an offline visit (`setOnline(false)`) with F00B.
package homevisit.test

import java.util.UUID
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/**
 * Runs the visits. `app` must be enrolled with the VPN simulator (or pass its QR-2 text and PIN in
 * [enrolQr] / [enrolPin] to enrol here) and connected to the reader with the PIN verified.
 */
fun visitSection(app: HomeVisitApp, enrolQr: String? = null, enrolPin: String? = null) {
    if (enrolQr != null && enrolPin != null) {
        step("visit: enrol with the VPN simulator") { runBlocking { app.enrol(enrolQr, enrolPin, "kotlin-jvm") } }
            ?: return
    }
    app.setOnline(true)

    // Online: cloud SAM, sequence number, card written and read back.
    val v = step("visit: begin (reads the patient card)") { runBlocking { app.beginVisit() } } ?: return
    val patient = v.patient()
    check("visit: the patient is shown masked", patient.nationalIdMasked.contains('*') && patient.nameMasked.contains('○'))
    val draft = v.draft()
    check("visit: a first visit is proposed as 01", draft.visitType == VisitType.WESTERN_OUTPATIENT && !draft.followUp)
    val refused = try { v.addDiagnosis("X99.999"); false } catch (e: HomeVisitException.Validation) { true }
    check("visit: an unknown ICD-10-CM code is refused", refused)
    check("visit: diagnoses are normalised", step("visit: add diagnoses") {
        listOf(v.addDiagnosis("I10"), v.addDiagnosis("e11.9"))
    } == listOf("I10", "E119"))
    step("visit: add a drug order") { v.addDrugOrder("AC45856100", "1", "TID", "PO", 7u.toUShort()) }
    step("visit: note and fees") { v.setNote("stable; continue home care"); v.setFees(1631u, 0u) }
    check("visit: the draft holds the order", v.draft().orders.map { it.code } == listOf("AC45856100"))

    val request = UUID.randomUUID().toString()
    val online = step("visit: finish online") { runBlocking { v.finish(request) } } ?: return
    check("visit: online visit has a normal sequence number (card written and read back)",
        online.sequenceNumber == "0001")
    check("visit: the visit code has 20 characters", online.visitCode.length == 20)

    // The UI retried (a timeout, a second tap): the same request id gives the same visit.
    val again = step("visit: finish again with the same request id") { runBlocking { v.finish(request) } }
    check("visit: the same request id gives the same visit", again?.id == online.id && again.visitCode == online.visitCode)
    val afterRetry = runBlocking { app.listVisits(100u, 0u) }
    check("visit: one visit stored, not two", afterRetry.count { it.id == online.id } == 1 && afterRetry.size == 1)

    // No signal: the abnormal path, the card is not written.
    app.setOnline(false)
    val off = step("visit: begin offline") { runBlocking { app.beginVisit() } } ?: return
    check("visit: a later visit of the same patient is proposed as AH",
        off.draft().visitType == VisitType.HOME_CARE_FOLLOW_UP && off.draft().followUp)
    step("visit: offline diagnosis") { off.addDiagnosis("J44.9") }
    val offline = step("visit: finish offline") { runBlocking { off.finish(UUID.randomUUID().toString()) } }
    check("visit: offline visit takes F00B", offline?.sequenceNumber == "F00B")
    check("visit: two visits stored", runBlocking { app.listVisits(100u, 0u) }.size == 2)
    app.setOnline(true)
}
