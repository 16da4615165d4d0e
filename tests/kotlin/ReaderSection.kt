// The reader part of the visit day from Kotlin: the core's reader protocol over a Kotlin BLE stack
// (LoopbackBle → `homevisit-sim reader serve`), scan, pairing with the code the reader printed
// (a wrong code refused first), the reader-state stream, and the practitioner PIN (a wrong PIN
// shows the tries left, then the right one).
package homevisit.test

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/** Lines a simulator process printed, in order; the harness feeds them from the process's stdout. */
class PrintedLines {
    private val lines = LinkedBlockingQueue<String>()

    fun add(line: String) { lines.add(line) }

    /** The next printed line matching [pattern] (lines before it are consumed); null only when
     *  nothing matches within [timeoutMs], a guard against hangs, not a pacing. */
    fun next(pattern: Regex, timeoutMs: Long = 20_000): MatchResult? {
        val deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs)
        while (true) {
            val left = deadline - System.nanoTime()
            if (left <= 0) return null
            val line = lines.poll(left, TimeUnit.NANOSECONDS) ?: return null
            pattern.find(line)?.let { return it }
        }
    }
}

/** Collects the reader-state events the core pushes. */
class ReaderEvents : ReaderStateListener {
    val events = CopyOnWriteArrayList<ReaderState>()
    override fun onReaderState(event: ReaderStateEvent) { events.add(event.state) }
}

/** Runs one step; a throw is a failed check named [name]. */
inline fun <T> step(name: String, block: () -> T): T? =
    try { block() } catch (e: Throwable) { println("      $name threw $e"); check(name, false); null }

val PAIRING_LINE = Regex("pairing: the reader shows code (\\d{6})")

/**
 * Pairs and connects `app` with the reader simulator listening on [readerPort] (its output in
 * [readerOut]) through [LoopbackBle], then verifies the practitioner PIN. Returns true when the
 * reader is ready with the PIN verified (what [visitSection] needs).
 */
fun readerSection(app: HomeVisitApp, readerPort: Int, readerOut: PrintedLines, pin: String = "1234"): Boolean {
    val readers = app.readers()
    val ble = LoopbackBle(readerPort)
    step("reader: use the Kotlin BLE stack") { runBlocking { readers.useHostBle(ble) } } ?: return false
    val events = ReaderEvents()
    val subscription = readers.subscribe(events)

    val found = step("reader: scan") { runBlocking { readers.scan(500u) } } ?: return false
    check("reader: scan finds one supported, unpaired reader",
        found.size == 1 && found[0].model == ReaderModel.HV_BT200 && !found[0].paired)
    val id = found.firstOrNull()?.id ?: return false

    // A wrong code first: refused, nothing kept.
    val first = step("reader: pair") { runBlocking { readers.pair(id) } } ?: return false
    val printed1 = readerOut.next(PAIRING_LINE)?.groupValues?.get(1)
    check("reader: the phone's code is the one the reader printed", printed1 == first.code)
    val wrong = if (first.code == "000000") "111111" else "000000"
    val refused = try {
        runBlocking { readers.confirmPairing(wrong) }; false
    } catch (e: HomeVisitException.Validation) { e.field == "pairing_code" }
    check("reader: a wrong pairing code is refused", refused)
    check("reader: nothing is paired after the refusal", readers.pairedReaders().isEmpty())

    // Then the right one, compared with the code the reader-serve process printed.
    val pending = step("reader: pair again") { runBlocking { readers.pair(id) } } ?: return false
    val printed = readerOut.next(PAIRING_LINE)?.groupValues?.get(1)
    check("reader: the new code matches the printed one", printed == pending.code)
    val paired = step("reader: confirm pairing") { runBlocking { readers.confirmPairing(printed ?: "") } }
        ?: return false
    check("reader: paired with HV-BT200", paired.model == ReaderModel.HV_BT200 && paired.id == id)
    check("reader: the pairing is kept", readers.pairedReaders().map { it.id } == listOf(id))

    step("reader: connect") { runBlocking { readers.connect(null) } } ?: return false
    check("reader: state stream says connecting then ready",
        events.events.toList().takeLast(2) == listOf(ReaderState.Connecting, ReaderState.Ready))
    check("reader: the core's frames went through the Kotlin stack", ble.writes.get() > 0 && ble.notifications.get() > 0)

    // Reconnect without pairing: drop the session, the next operation reconnects on its own.
    step("reader: disconnect") { runBlocking { readers.disconnect() } }
    check("reader: state stream says disconnected", events.events.lastOrNull() == ReaderState.Disconnected)

    // The practitioner PIN: wrong first (tries left), then right (reconnects without pairing).
    val remaining = try {
        runBlocking { readers.verifyPractitionerPin("0000") }; null
    } catch (e: HomeVisitException.WrongPin) { e.remaining.toInt() }
    check("pin: a wrong PIN says 2 tries are left", remaining == 2)
    check("reader: reconnected to the paired reader without pairing",
        events.events.contains(ReaderState.Connecting) && events.events.lastOrNull() == ReaderState.Ready)
    val practitioner = step("pin: the right PIN") { runBlocking { readers.verifyPractitionerPin(pin) } }
        ?: return false
    check("pin: the practitioner is shown masked", practitioner.nationalIdMasked.contains('*'))
    check("pin: the generated record prints no clear ID", practitioner.toString().contains('*'))

    subscription.cancel()
    return true
}
