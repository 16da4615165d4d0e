// The day's corrections section (issue 14 items 1 and 3): an edit after acceptance goes out as a
// correction keyed by the visit code — the simulator's stored record shows the new content, and the
// outbox shows done only after; a conflicting Duplicate (two twin devices that made the same visit
// code with other content) is shown as a conflict, never a success, and resolved by a correction;
// a visit is cancelled (ZA/ZB) exactly once and listed as cancelled; a cancel after 24 h is refused.
package homevisit.test

import java.io.File
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/** The simulator's stored record of a visit code (admin route), as JSON text. */
fun storedRecord(day: Day, code: String): String = day.sims.adminGet("/admin/records/$code")

fun correctionSection(day: Day) {
    val app = day.app
    day.sims.clearFaults()
    app.setOnline(true)
    val sync = app.syncService()
    val corrections = app.corrections()

    // 1. An edit after acceptance → a correction, done only after the simulator acknowledged it.
    val visit = attempt("corrections: record a follow-up visit") {
        runBlocking { app.recordVisit(card("A123456789"), followUp("0003")) }
    } ?: return
    attempt("corrections: upload it") { runBlocking { sync.drainOnce(0uL) } }
    check("corrections: the visit is uploaded",
        corrections.visitStatus(visit.id).standing == VisitStanding.UPLOADED)
    val receipt = attempt("corrections: edit the accepted visit") {
        corrections.editVisit(visit.id, listOf("I10", "E11.9"), null, "edited after acceptance", null, null)
    } ?: return
    check("corrections: an edit after acceptance goes out as a correction", receipt.path == EditPath.CORRECTION)
    val pending = corrections.visitStatus(visit.id)
    check("corrections: not done before the server answered",
        pending.standing == VisitStanding.CORRECTION_PENDING && !pending.allAcknowledged, "$pending")
    check("corrections: the simulator still holds the old content", !storedRecord(day, visit.visitCode).contains("E119"))
    attempt("corrections: send the correction") { runBlocking { sync.drainOnce(0uL) } }
    val stored = storedRecord(day, visit.visitCode)
    check("corrections: the simulator's stored record shows the new content (corrected-normal, A01 = 3)",
        stored.contains("\"E119\"") && stored.contains("\"record_state\":\"3\""), stored.take(200))
    check("corrections: stored once under its code", storedCount(day, visit.visitCode) == 1)
    val done = corrections.visitStatus(visit.id)
    check("corrections: the outbox shows done only after the acknowledgement",
        done.standing == VisitStanding.CORRECTED && done.allAcknowledged, "$done")

    // 2. A cancel within 24 h: once, listed as cancelled, uploaded.
    val toCancel = attempt("corrections: record a visit to cancel") {
        runBlocking { app.recordVisit(card("A123456789"), followUp("0004")) }
    } ?: return
    val first = attempt("corrections: cancel it") {
        runBlocking { corrections.cancelVisit(toCancel.id, "kt-cancel-1") }
    }
    val again = attempt("corrections: cancel it again (same request id)") {
        runBlocking { corrections.cancelVisit(toCancel.id, "kt-cancel-1") }
    }
    check("corrections: a cancel is ZB for a follow-up (not counted), card absent recorded",
        first != null && first.cancelType == "ZB" && !first.cardCancelled, "$first")
    check("corrections: a retried cancel is the same cancel", first != null && again?.jobId == first.jobId)
    val cancelled = attempt("corrections: list the cancelled visits") {
        corrections.visitsStanding(VisitStanding.CANCELLED, 10u)
    } ?: emptyList()
    check("corrections: the cancelled visit is kept and listed", cancelled.any { it.visitId == toCancel.id })
    attempt("corrections: upload the visit and its cancellation") {
        runBlocking { sync.drainOnce(0uL); sync.drainOnce(0uL) }
    }
    check("corrections: the simulator marks the visit cancelled",
        storedRecord(day, toCancel.visitCode).contains("\"state\":\"cancelled\""))

    // 3. A conflicting Duplicate: twin devices (same keys, id and time) make the same visit code.
    val now = System.currentTimeMillis()
    val twinClock = FixedClock(now)
    fun twin(name: String): HomeVisitApp? = attempt("corrections: open twin device $name") {
        HomeVisitApp.openWithClock(
            AppConfig(dataDir = File(day.work, "twin-$name").path, institutionCode = "3501200000", deviceId = "kt-twin"),
            KotlinKeyStore(seed = 21), twinClock,
        )
    }
    val a = twin("a") ?: return
    val b = twin("b") ?: return
    try {
        for ((n, t) in listOf("a" to a, "b" to b)) {
            val (qr, pin) = day.sims.newBinding()
            attempt("corrections: enrol twin $n") { runBlocking { t.enrol(qr, pin, "twin $n") } }
        }
        val va = attempt("corrections: twin a records") {
            runBlocking { a.recordVisit(card("F128703126"), followUp("0001").copy(diagnoses = listOf("I10"))) }
        } ?: return
        val vb = attempt("corrections: twin b records other content") {
            runBlocking { b.recordVisit(card("F128703126"), followUp("0001").copy(diagnoses = listOf("J44.9"))) }
        } ?: return
        check("corrections: the twins made the same visit code", va.visitCode == vb.visitCode, "${va.visitCode} ${vb.visitCode}")
        attempt("corrections: twin a uploads") { runBlocking { a.syncService().drainOnce(0uL) } }
        attempt("corrections: twin b uploads") { runBlocking { b.syncService().drainOnce(0uL) } }
        val rejected = attempt("corrections: twin b's rejected jobs") { b.syncService().rejectedJobs() } ?: emptyList()
        check("corrections: a conflicting Duplicate is shown, not swallowed",
            rejected.size == 1 && rejected[0].reason.startsWith("duplicate_conflict") && rejected[0].fields.any { it.field == "M15" },
            "$rejected")
        check("corrections: the visit stands in conflict",
            b.corrections().visitStatus(vb.id).standing == VisitStanding.CONFLICT)
        val fix = attempt("corrections: resolve the conflict with a correction") {
            b.corrections().editVisit(vb.id, listOf("J44.9"), null, "resolved", null, null)
        }
        check("corrections: the resolution is a correction", fix?.path == EditPath.CORRECTION)
        attempt("corrections: send it") { runBlocking { b.syncService().drainOnce(0uL) } }
        check("corrections: the simulator holds twin b's content after the correction",
            storedRecord(day, vb.visitCode).contains("\"J449\""))

        // 4. A cancel after 24 h is refused, nothing changed.
        val late = attempt("corrections: twin a records a visit") {
            runBlocking { a.recordVisit(card("F128703126"), followUp("0002")) }
        } ?: return
        twinClock.nowMs = now + 25L * 3_600_000L
        expectError("corrections: a cancel after 24 h → CancelWindowClosed (code cancel_window_closed)", {
            it is HomeVisitException.CancelWindowClosed && errorCode(it) == "cancel_window_closed"
        }) { runBlocking { a.corrections().cancelVisit(late.id, "kt-late-1") } }
        check("corrections: nothing changed by the refused cancel",
            a.corrections().visitStatus(late.id).standing == VisitStanding.PENDING)
    } finally {
        a.close()
        b.close()
    }
}
