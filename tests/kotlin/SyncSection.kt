// The day's sync section: offline nothing is sent; back online the drain is seen as events and by
// the outbox listeners; the NHI upload-result table; a record the checker refuses is corrected and
// re-queued; a server answering garbage loses nothing; the background loop drains when the
// network comes back; MediCloud fresh online, then cached with its age offline; and the log lines
// forwarded to Kotlin never carry a patient's ID or name.
package homevisit.test

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.launch
import tw.homevisit.android.events
import tw.homevisit.ffi.*

/** Keeps the forwarded log lines. */
class KeptLog : LogSink {
    val lines = CopyOnWriteArrayList<String>()
    override fun log(level: LogLevel, target: String, message: String) {
        lines.add("$level $target: $message")
    }
}

/** Keeps the sync events, and hands them to a waiting test. */
class KeptEvents : SyncListener {
    val events = CopyOnWriteArrayList<SyncEvent>()
    val queue = LinkedBlockingQueue<SyncEvent>()
    override fun onSyncEvent(event: SyncEvent) {
        events.add(event)
        queue.add(event)
    }
}

/** Keeps the outbox changes. */
class KeptChanges : OutboxListener {
    val changes = CopyOnWriteArrayList<OutboxState>()
    override fun onOutboxChanged(state: OutboxState) {
        changes.add(state)
    }
}

/** How many times the simulator stored the visit with this code. */
fun storedCount(day: Day, code: String): Int {
    val json = day.sims.adminGet("/admin/visits?code=$code")
    return Regex("\\[\"$code\",(\\d+)]").find(json)?.groupValues?.get(1)?.toInt() ?: -1
}

const val SYNC_PATIENT_ID = "A123456789"
const val SYNC_PATIENT_NAME = "王小明"

/** A home-care follow-up (AH): the simulator's checker accepts it without a fee. */
fun followUp(seq: String) = details(seq).copy(visitType = "AH")

fun syncSection(day: Day) {
    val app = day.app
    val log = KeptLog()
    attempt("sync: install the Kotlin log sink") { installLogSink(log, LogLevel.DEBUG) }
    val sync = app.syncService()
    val events = KeptEvents()
    val eventSub = sync.subscribe(events)
    val changes = KeptChanges()
    val outboxSub = app.subscribeOutbox(changes)

    // Offline: nothing is sent.
    app.setOnline(false)
    val offlineVisit = attempt("sync: record a visit offline") {
        runBlocking { app.recordVisit(card(SYNC_PATIENT_ID), followUp("0001")) }
    } ?: return
    val rejectedVisit = attempt("sync: record a counted visit without a fee (the checker refuses M44)") {
        runBlocking { app.recordVisit(card(SYNC_PATIENT_ID), details("0002")) }
    } ?: return
    val offline = attempt("sync: drain while offline") { runBlocking { sync.drainOnce(0uL) } }
    check("sync: offline → nothing sent, stopped Offline",
        offline != null && offline.done == 0u && offline.batches == 0u && offline.stopped == DrainStopReason.OFFLINE,
        "$offline")
    check("sync: offline → the simulator has not got the visit", storedCount(day, offlineVisit.visitCode) == 0)

    // Online: the drain, seen as a Kotlin Flow of events and by the outbox listeners.
    app.setOnline(true)
    val flowed = CopyOnWriteArrayList<SyncEvent>()
    val drained = attempt("sync: drain once online, collected as a Flow") {
        runBlocking {
            val listening = CompletableDeferred<Unit>()
            val collector = launch {
                sync.events(listening).takeWhile { it !is SyncEvent.Drained }.collect { flowed.add(it) }
            }
            listening.await()
            val summary = sync.drainOnce(0uL)
            collector.join()
            summary
        }
    }
    check("sync: the Flow saw the drain start and the visit done, and completed at Drained",
        flowed.any { it is SyncEvent.Started } && flowed.any { it is SyncEvent.JobDone && it.visitCode == offlineVisit.visitCode },
        "${flowed.map { it::class.simpleName }}")
    check("sync: online → the visit is sent", drained != null && drained.done >= 1u, "$drained")
    check("sync: the simulator stored the visit once", storedCount(day, offlineVisit.visitCode) == 1)
    check("sync: events: started … job done … drained",
        events.events.any { it is SyncEvent.Started } &&
            events.events.any { it is SyncEvent.JobDone && it.visitCode == offlineVisit.visitCode } &&
            events.events.last() is SyncEvent.Drained, "${events.events.map { it::class.simpleName }}")
    val refusal = events.events.filterIsInstance<SyncEvent.JobRejected>().firstOrNull { it.visitCode == rejectedVisit.visitCode }
    check("sync: event: the refused record with its field M44",
        refusal != null && refusal.fields.any { it.field == "M44" }, "$refusal")
    check("sync: the outbox listener heard the outcomes (counts + only the changed jobs)",
        changes.changes.any { c -> c.jobs.any { it.visitCode == offlineVisit.visitCode && it.status is JobStatus.Done } } &&
            changes.changes.all { it.jobs.size <= 100 }, "${changes.changes.size} changes")

    // The NHI upload-result table.
    val table = sync.lastUploadResult()
    check("sync: the upload-result table lists the batch and the invalid row",
        table != null && table.received >= 2u && table.invalidRows.any { it.visitCode == rejectedVisit.visitCode && it.field == "M44" },
        "$table")

    // The refused record: shown, corrected, re-queued, accepted.
    val rejected = attempt("sync: rejected jobs") { sync.rejectedJobs() }?.firstOrNull { it.visitCode == rejectedVisit.visitCode }
    check("sync: the rejected job carries the checker's field and reason",
        rejected != null && rejected.fields.any { it.field == "M44" } && rejected.reason.isNotEmpty(), "$rejected")
    if (rejected != null) {
        expectError("sync: a correction that breaks a rule → Validation(sequence_number)", {
            it is HomeVisitException.Validation && it.field == "sequence_number"
        }) { sync.correctRejected(rejected.jobId, followUp("9999")) }
        val newJob = attempt("sync: correct the visit (AH) and re-queue it") { sync.correctRejected(rejected.jobId, followUp("0002")) }
        check("sync: the correction is a new job", newJob != null && newJob != rejected.jobId)
        val again = attempt("sync: drain the correction") { runBlocking { sync.drainOnce(0uL) } }
        check("sync: the corrected record is accepted", again != null && again.done >= 1u && again.rejected == 0u, "$again")
        check("sync: nothing of it left rejected",
            sync.rejectedJobs().none { it.visitCode == rejectedVisit.visitCode })
    }
    check("sync: the corrected visit is stored once", storedCount(day, rejectedVisit.visitCode) == 1)
    val deadlines = attempt("sync: the 24-hour report") { sync.deadlines() }
    check("sync: none of today's visits missed the 24-hour rule", deadlines != null && deadlines.missed.isEmpty(), "$deadlines")

    // A server answering garbage or half a body: retried, nothing lost.
    val hostile = attempt("sync: record a visit for the hostile server") {
        runBlocking { app.recordVisit(card(SYNC_PATIENT_ID), followUp("0003")) }
    }
    for (kind in listOf("garbage", "truncate")) {
        attempt("sync: the simulator answers $kind") {
            day.sims.setFaults("{\"failure_rate\":1.0,\"kinds\":[\"$kind\"],\"seed\":1}")
        }
        val s = attempt("sync: send now against $kind") { runBlocking { sync.sendNow() } }
        check("sync: $kind → retried, nothing done, nothing lost",
            s != null && s.done == 0u && s.retries >= 1u && s.remaining >= 1u && !s.complete, "$s")
    }
    attempt("sync: the simulator heals") { day.sims.clearFaults() }
    val healed = attempt("sync: send now after the faults") { runBlocking { sync.sendNow() } }
    check("sync: after the faults the held jobs are sent", healed != null && healed.done >= 1u && healed.retries == 0u, "$healed")
    if (hostile != null) check("sync: the hostile-time visit is stored exactly once", storedCount(day, hostile.visitCode) == 1)

    // The background loop, woken by the network coming back (a long poll: only the wake can do it).
    app.setOnline(false)
    val later = attempt("sync: record a visit while offline (background)") {
        runBlocking { app.recordVisit(card(SYNC_PATIENT_ID), followUp("0004")) }
    }
    events.queue.clear()
    attempt("sync: start the background loop") { sync.start(3_600_000uL) }
    check("sync: the background loop runs", sync.isRunning())
    app.setOnline(true)
    var done: SyncEvent.Drained? = null
    // The bound only guards against a hang: the wake starts the drain at once.
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
    while (done == null && System.nanoTime() < deadline) {
        val e = events.queue.poll(1, TimeUnit.SECONDS) ?: continue
        if (e is SyncEvent.Drained && e.summary.done >= 1u) done = e
    }
    check("sync: the background loop drained when the network came back", done != null)
    if (later != null) check("sync: the background-sent visit is stored once", storedCount(day, later.visitCode) == 1)
    sync.stop()
    check("sync: the background loop stops", !sync.isRunning())

    // MediCloud: fresh online, cached (with its age) offline; an uncached patient offline is a typed error.
    val fresh = attempt("sync: MediCloud online") { runBlocking { app.medicloud(SYNC_PATIENT_ID) } }
    check("sync: MediCloud online is fresh", fresh != null && !fresh.fromCache() && fresh.ageMs() == 0L &&
        fresh.medications().isNotEmpty(), "age=${fresh?.ageMs()}")
    check("sync: the MediCloud object does not print its data",
        fresh != null && fresh.medications().none { m -> fresh.toString().contains(m.drugName) } &&
            !fresh.toString().contains(SYNC_PATIENT_ID))
    app.setOnline(false)
    val cached = attempt("sync: MediCloud offline") { runBlocking { app.medicloud(SYNC_PATIENT_ID) } }
    check("sync: MediCloud offline is the cached copy with its age",
        cached != null && cached.fromCache() && cached.ageMs() >= 0L && cached.ageText().isNotEmpty() &&
            cached.medications().size == fresh?.medications()?.size, "age=${cached?.ageMs()} ${cached?.ageText()}")
    expectError("sync: MediCloud of an uncached patient offline → Network", {
        it is HomeVisitException.Network && errorCode(it) == "network"
    }) { runBlocking { app.medicloud("B123456780") } }
    expectError("sync: MediCloud with a bad national ID → Validation(national_id)", {
        it is HomeVisitException.Validation && it.field == "national_id"
    }) { runBlocking { app.medicloud("A123456788") } }
    app.setOnline(true)

    eventSub.cancel()
    outboxSub.cancel()

    // The forwarded logs: present, and free of the patients' IDs and names.
    val names = DEMO_PATIENTS.map { it.second }.toSet() + SYNC_PATIENT_NAME
    val ids = DEMO_PATIENTS.map { it.first }.toSet() + SYNC_PATIENT_ID
    val lines = log.lines.toList()
    check("sync: log lines were forwarded to Kotlin", lines.any { it.contains("drain ended") }, "${lines.size} lines")
    val leaking = lines.filter { l -> ids.any { l.contains(it) } || names.any { l.contains(it) } }
    check("sync: no forwarded log line carries a patient's ID or name", leaking.isEmpty(), "${leaking.take(3)}")
    uninstallLogSink()
}
