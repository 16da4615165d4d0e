// The virtual NHI card from Kotlin: the simulator's "patient app" shows a QR, the app scans it,
// the patient taps "同意" (a simulator route plays it), the app reads the card data and finishes a
// visit that gets a `V` sequence number from the simulated NHI (no card written), and the upload
// is accepted. Then a reused QR and one past its 5 minutes (the simulator's virtual-card clock is
// moved by its admin route, never waited on) are refused with their own errors.
package homevisit.test

import java.util.UUID
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/** Demo patient 2 holds a virtual card in the simulator. */
const val VCARD_PATIENT_ID = "B220415378"

/** The simulator's patient-app and virtual-card admin routes (admin token, pinned certificate). */
class PatientApp(private val sims: Sims) {
    private fun post(path: String, json: String): String = sims.adminPost(path, json)

    /** The patient's phone shows a new single-use QR. */
    fun showQr(nationalId: String): String {
        val json = post("/patient-app/vcard/qr", "{\"national_id\":\"$nationalId\"}")
        return Regex("\"qr\"\\s*:\\s*\"([^\"]+)\"").find(json)?.groupValues?.get(1) ?: error("no qr in $json")
    }

    /** The patient taps "同意" for the QR they showed. */
    fun agree(qr: String) { post("/patient-app/vcard/consent", "{\"qr\":\"$qr\",\"agree\":true}") }

    /** Moves the simulated NHI's virtual-card clock forward. */
    fun advanceClock(ms: Long) { post("/admin/vcard/clock", "{\"advance_ms\":$ms}") }
}

fun virtualCardSection(day: Day) {
    val app = day.app
    app.setOnline(true)
    day.sims.clearFaults()
    val patientApp = PatientApp(day.sims)
    val vc = app.virtualCard()

    val qr = attempt("vcard: the patient's app shows a QR") { patientApp.showQr(VCARD_PATIENT_ID) } ?: return
    val scan = attempt("vcard: scan the QR") { runBlocking { vc.scan(qr) } } ?: return
    check("vcard: the scan waits for the patient's consent",
        runBlocking { vc.consentState(scan.session) } == ConsentState.PENDING)
    expectError("vcard: no reading before consent", { it is HomeVisitException.VcardNoConsent }) {
        runBlocking { vc.beginVisit(scan.session) }
    }
    attempt("vcard: the patient taps 同意") { patientApp.agree(qr) }
    check("vcard: consent granted", runBlocking { vc.consentState(scan.session) } == ConsentState.GRANTED)

    val v = attempt("vcard: read the card data and begin the visit") { runBlocking { vc.beginVisit(scan.session) } }
        ?: return
    val patient = v.patient()
    check("vcard: the patient is shown masked",
        patient.nationalIdMasked == "B22*****78" && !patient.toString().contains(VCARD_PATIENT_ID), patient.toString())
    attempt("vcard: diagnosis, order and fees") {
        v.addDiagnosis("I10")
        v.addDrugOrder("AC45856100", "1", "TID", "PO", 7u.toUShort())
        v.setFees(1631u, 0u)
    }
    val visit = attempt("vcard: finish") { runBlocking { v.finish(UUID.randomUUID().toString()) } } ?: return
    check("vcard: the visit has a V sequence number from the NHI", visit.sequenceNumber.startsWith("V"), visit.sequenceNumber)
    check("vcard: no card was written (no chip)", !visit.cardWritten)
    check("vcard: the summary prints no clear ID", !visit.toString().contains(VCARD_PATIENT_ID))

    attempt("vcard: drain the outbox") { runBlocking { app.syncService().drainOnce(0uL) } }
    check("vcard: the upload was accepted and stored once", storedCount(day, visit.visitCode) == 1)

    // A QR is single-use, and expires 5 minutes after issue: distinct errors.
    expectError("vcard: a reused QR is refused as used", { it is HomeVisitException.VcardUsed }) {
        runBlocking { vc.scan(qr) }
    }
    val late = attempt("vcard: another QR") { patientApp.showQr(VCARD_PATIENT_ID) } ?: return
    attempt("vcard: the NHI's clock passes 5 min + 1 s") { patientApp.advanceClock(5 * 60 * 1000L + 1000L) }
    expectError("vcard: an expired QR is refused as expired", { it is HomeVisitException.VcardExpired }) {
        runBlocking { vc.scan(late) }
    }
    check("vcard: the error codes are listed", errorCodes().containsAll(listOf("vcard_expired", "vcard_used")))
}
