// Kotlin-on-the-JVM test of the homevisit uniffi bindings (run by tests/kotlin/run.sh).
// Exercises the generated API the way an Android app will: a Kotlin key store and clock handed to
// the Rust core, suspend functions on coroutines, typed errors, and the outbox listener callback.
package homevisit.test

import java.io.File
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import tw.homevisit.android.outboxStates
import tw.homevisit.ffi.*

var passed = 0
var failed = 0

fun check(name: String, ok: Boolean, detail: String = "") {
    if (ok) { passed++; println("ok    $name") } else { failed++; println("FAIL  $name $detail") }
}

inline fun <T> attempt(name: String, block: () -> T): T? =
    try { block() } catch (e: Throwable) { failed++; println("FAIL  $name threw $e"); null }

/** A key store held in Kotlin memory: the Rust core calls back into it for every key. */
class KotlinKeyStore(private val seed: Byte) : HostKeyStore {
    val calls = AtomicInteger(0)
    private val keys = HashMap<String, ByteArray>()
    @Synchronized
    override fun getOrCreateKey(alias: String): ByteArray {
        calls.incrementAndGet()
        return keys.getOrPut(alias) { ByteArray(32) { i -> (seed + i * 7 + alias.length).toByte() } }
    }
    /** Every key derived from the seed counts as held (a fresh instance stands for the same store). */
    override fun getKey(alias: String): ByteArray? = getOrCreateKey(alias)
}

class LockedKeyStore : HostKeyStore {
    override fun getOrCreateKey(alias: String): ByteArray = throw KeyStoreException.Locked()
    override fun getKey(alias: String): ByteArray? = throw KeyStoreException.Locked()
}

class ShortKeyStore : HostKeyStore {
    override fun getOrCreateKey(alias: String): ByteArray = ByteArray(16)
    override fun getKey(alias: String): ByteArray? = ByteArray(16)
}

class ThrowingKeyStore : HostKeyStore {
    override fun getOrCreateKey(alias: String): ByteArray = throw IllegalStateException("boom")
    override fun getKey(alias: String): ByteArray? = throw IllegalStateException("boom")
}

/** 2024-03-05 10:30:00 Taiwan time (02:30:00 UTC). */
class FixedClock(var nowMs: Long) : HostClock {
    override fun nowUnixMs(): Long = nowMs
}

/**
 * A clock that, once armed, holds the caller (a Rust worker thread) until the test opens the gate.
 * Used to show that `recordVisit` really suspends: the coroutine's own thread stays free.
 */
class GatedClock(private val nowMs: Long) : HostClock {
    @Volatile var armed = false
    @Volatile var timedOut = false
    val entered = CountDownLatch(1)
    val gate = CountDownLatch(1)
    override fun nowUnixMs(): Long {
        if (armed) {
            entered.countDown()
            if (!gate.await(20, TimeUnit.SECONDS)) timedOut = true
        }
        return nowMs
    }
}

class RecordingListener : OutboxListener {
    val states = CopyOnWriteArrayList<OutboxState>()
    val threads = CopyOnWriteArrayList<String>()
    override fun onOutboxChanged(state: OutboxState) {
        threads.add(Thread.currentThread().name)
        states.add(state)
    }
}

class ThrowingListener : OutboxListener {
    override fun onOutboxChanged(state: OutboxState) = throw RuntimeException("listener bug")
}

val CODE = Regex("^[0-9A-HJ-NP-Z]{20}$")

fun card(id: String = "A123456789") = CardInput(
    cardNumber = "000012345678", name = "王小明", nationalId = id,
    birthDate = "0500101", sex = "M", issueDate = "1100301",
)

fun details(seq: String = "0001") = VisitDetails(
    practitionerId = "B234567894", visitType = "01", sequenceNumber = seq,
    diagnoses = listOf("G45.0"), note = "stable; continue home care", abnormalReason = null,
)

fun main(args: Array<String>) {
    val work = File(if (args.isNotEmpty()) args[0] else "build/kotlin-work")
    work.deleteRecursively()
    work.mkdirs()
    val config = AppConfig(dataDir = work.path, institutionCode = "3501200000", deviceId = "jvm-test-device")
    val keys = KotlinKeyStore(seed = 11)
    val clock = FixedClock(1709605800000L)

    // 1. Open with a Kotlin key store and clock: the core calls back into Kotlin for its keys.
    val app = attempt("open") { HomeVisitApp.openWithClock(config, keys, clock) } ?: return finish()
    check("open calls the Kotlin key store", keys.calls.get() > 0, "calls=${keys.calls.get()}")
    expectError("a second open of the same directory → AlreadyOpen (code already_open)", {
        it is HomeVisitException.AlreadyOpen && errorCode(it) == "already_open"
    }) { HomeVisitApp.open(config, keys) }

    // 2. Listener: registered before the visit, called back into Kotlin after the commit.
    val listener = RecordingListener()
    val subscription = app.subscribeOutbox(listener)

    // 3. Record a visit through a suspend function.
    val visit = attempt("recordVisit") { runBlocking { app.recordVisit(card(), details()) } }
    if (visit != null) {
        check("visit code is 20 chars of 0-9A-Z without I/O", CODE.matches(visit.visitCode), visit.visitCode)
        check("visit time comes from the Kotlin clock in Taiwan time",
            visit.visitedAt == "2024-03-05T10:30:00+08:00" && visit.visitedAtUnixMs == 1709605800000L, visit.visitedAt)
        check("national ID is masked in the summary",
            !visit.nationalIdMasked.contains("3456") && visit.nationalIdMasked.startsWith("A"), visit.nationalIdMasked)
    }
    check("listener called back once with one queued job",
        listener.states.size == 1 && listener.states[0].counts.queued == 1u, "states=${listener.states}")

    // 4. List visits.
    val visits = attempt("listVisits") { runBlocking { app.listVisits(100u, 0u) } }
    check("list holds the recorded visit",
        visits != null && visits.size == 1 && visits[0].visitCode == visit?.visitCode && visits[0].patientNameMasked == "王○明" &&
            !visits[0].toString().contains("王小明") && !visits[0].toString().contains("A123456789"),
        "visits=${visits?.map { it.visitCode }}")

    // 5. Outbox state: one card_upload job, queued, tied to the visit.
    val outbox = attempt("outboxState") { runBlocking { app.outboxState() } }
    if (outbox != null) {
        check("outbox counts one queued job", outbox.counts.queued == 1u && outbox.counts.done == 0u, "${outbox.counts}")
        val job = outbox.jobs.singleOrNull()
        check("the job is the visit's card_upload, queued",
            job != null && job.kind == "card_upload" && job.visitId == visit?.id &&
                job.visitCode == visit?.visitCode && job.status == JobStatus.Queued, "$job")
    }

    // 6. Error path: a national ID with a wrong check digit → typed Validation error, nothing stored.
    try {
        runBlocking { app.recordVisit(card(id = "A123456788"), details("0002")) }
        check("bad national ID is refused", false, "no exception")
    } catch (e: HomeVisitException.Validation) {
        check("bad national ID → HomeVisitException.Validation(field=national_id)", e.field == "national_id", e.field)
        check("the error message does not echo the ID", !(e.message ?: "").contains("A123456788"), e.message ?: "")
    } catch (e: Throwable) {
        check("bad national ID → Validation", false, "got $e")
    }
    check("the refused visit was not stored", runBlocking { app.listVisits(100u, 0u) }.size == 1)

    // 7. Concurrency: several suspend calls at once (coroutines + the core's runtime).
    val codes = attempt("concurrent recordVisit") {
        runBlocking {
            (1..4).map { n -> async { app.recordVisit(card(), details("000${n + 2}")).visitCode } }.awaitAll()
        }
    }
    check("4 concurrent visits get 4 distinct codes", codes != null && codes.toSet().size == 4, "$codes")
    check("listener saw every change", listener.states.size == 5 && listener.states.last().counts.queued == 5u,
        "states=${listener.states.size}")

    // 7b. The suspend function really suspends: while the core waits inside the Kotlin clock on
    // its own thread, this coroutine's thread is free to open the gate. A blocking call would hold
    // this thread and the clock would time out instead.
    val gated = GatedClock(1709605800000L)
    val gatedApp = attempt("open (gated clock)") {
        HomeVisitApp.openWithClock(config.copy(dataDir = File(work, "gated").path), keys, gated)
    }
    if (gatedApp != null) {
        val suspended = attempt("suspending recordVisit") {
            runBlocking {
                gated.armed = true
                val pending = async(start = CoroutineStart.UNDISPATCHED) { gatedApp.recordVisit(card(), details()) }
                val reached = gated.entered.await(20, TimeUnit.SECONDS)
                gated.gate.countDown()
                val v = pending.await()
                reached && !gated.timedOut && CODE.matches(v.visitCode)
            }
        }
        check("recordVisit suspends (the caller's thread stays free while Rust works)", suspended == true)
        gatedApp.close()
    }

    // 8. Cancel the subscription: no more callbacks.
    subscription.cancel()
    attempt("record after cancel") { runBlocking { app.recordVisit(card(), details("0010")) } }
    check("no callback after cancel", listener.states.size == 5, "states=${listener.states.size}")

    // 9. A listener that throws does not fail the visit (it is already committed).
    val bad = app.subscribeOutbox(ThrowingListener())
    val survived = attempt("record with a throwing listener") { runBlocking { app.recordVisit(card(), details("0011")) } }
    check("a throwing Kotlin listener does not fail the visit", survived != null)
    bad.close()

    // 9b. The android/ layer: the outbox as a Flow (its state now, then each change); the
    // collector's cancellation closes the subscription.
    val flowed = attempt("outboxStates() flow") {
        runBlocking {
            val seen = CopyOnWriteArrayList<OutboxState>()
            val listening = CompletableDeferred<Unit>()
            val collector = launch {
                app.outboxStates().collect { s ->
                    seen.add(s)
                    listening.complete(Unit)
                    if (seen.size == 2) cancel()
                }
            }
            listening.await()
            app.recordVisit(card(), details("0012"))
            collector.join()
            seen.toList()
        }
    }
    check("outboxStates() starts with the state now (7 queued)", flowed?.firstOrNull()?.counts?.queued == 7u,
        "${flowed?.map { it.counts.queued }}")
    check("outboxStates() then emits the change (8 queued)", flowed?.getOrNull(1)?.counts?.queued == 8u,
        "${flowed?.map { it.counts.queued }}")
    val total = runBlocking { app.listVisits(100u, 0u) }.size
    check("8 visits stored", total == 8, "total=$total")
    app.close()

    // 10. Reopen with the same keys: the visits are still there (the blocking variant, no coroutine).
    val again = attempt("reopen") { HomeVisitApp.open(config, keys) }
    check("reopened store sees the earlier visits", again?.listVisitsBlocking(100u, 0u)?.size == 8)
    again?.close()
    val againAsync = attempt("reopen (suspend constructor)") { runBlocking { HomeVisitApp.openAsync(config, keys, null) } }
    check("suspend constructor opens the same store", againAsync?.listVisitsBlocking(100u, 0u)?.size == 8)
    againAsync?.close()

    // 11. Key store failures arrive as typed errors, never as a crash.
    expectError("wrong key → WrongKey", { it is HomeVisitException.WrongKey }) {
        HomeVisitApp.open(config, KotlinKeyStore(seed = 99))
    }
    expectError("locked key store → Locked", { it is HomeVisitException.Locked }) {
        HomeVisitApp.open(config, LockedKeyStore())
    }
    expectError("16-byte key → Storage", { it is HomeVisitException.Storage }) {
        HomeVisitApp.open(config, ShortKeyStore())
    }
    expectError("key store throwing an undeclared exception → Storage", { it is HomeVisitException.Storage }) {
        HomeVisitApp.open(config, ThrowingKeyStore())
    }
    val corruptDir = File(work, "corrupt").apply { mkdirs() }
    File(corruptDir, "homevisit.db").writeBytes(ByteArray(8192) { 0x5a })
    expectError("corrupt database → Corrupt (and the file is kept)", {
        it is HomeVisitException.Corrupt && corruptDir.listFiles()!!.any { f -> f.name.contains("corrupt") }
    }) {
        HomeVisitApp.open(config.copy(dataDir = corruptDir.path), keys)
    }
    expectError("bad institution code → Validation(institution_code)",
        { it is HomeVisitException.Validation && it.field == "institution_code" }) {
        HomeVisitApp.open(config.copy(institutionCode = "12AB"), keys)
    }

    // The demo's day through the mobile API, against the simulators running as processes.
    runDay(work) { dir ->
        HomeVisitApp.open(config.copy(dataDir = dir.path, deviceId = "kotlin-day-device"), KotlinKeyStore(seed = 21))
    }

    finish()
}

fun expectError(name: String, ok: (Throwable) -> Boolean, block: () -> Any?) {
    try {
        block()
        check(name, false, "no exception")
    } catch (e: Throwable) {
        check(name, ok(e), "got $e")
    }
}

fun finish() {
    println("kotlin-jvm: $passed passed, $failed failed")
    System.out.flush()
    kotlin.system.exitProcess(if (failed == 0) 0 else 1)
}
