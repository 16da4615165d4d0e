// The reader part of the visit day from Kotlin: the core's reader protocol over a Kotlin BLE stack
// (LoopbackBle → `homevisit-sim reader serve`), scan, pairing with the code the reader printed
// (a wrong code refused first, then a pairing nobody confirmed on the reader's button), the reader-state stream, and the practitioner PIN (a wrong PIN
// shows the tries left, then the right one).
package homevisit.test

import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import tw.homevisit.android.states
import tw.homevisit.ffi.*

/** Collects the reader-state events the core pushes. */
class ReaderEvents : ReaderStateListener {
    val events = CopyOnWriteArrayList<ReaderState>()
    override fun onReaderState(event: ReaderStateEvent) { events.add(event.state) }
}

val PAIRING_LINE = Regex("pairing: the reader shows code (\\d{6})")

/** The demo practitioner card's PIN (the reader simulator's practitioner card). */
const val HPC_PIN = "1234"

/**
 * Pairs and connects the day's app with the reader simulator (`day.sims.readerPort`) through
 * [LoopbackBle], comparing the code with the one the reader printed, then verifies the
 * practitioner PIN. Leaves `day.state["reader_ready"] = true` for [visitSection].
 */
fun readerSection(day: Day) {
    val readers = day.app.readers()
    val ble = LoopbackBle(day.sims.readerPort)
    attempt("reader: use the Kotlin BLE stack") { runBlocking { readers.useHostBle(ble) } } ?: return
    val events = ReaderEvents()
    val subscription = readers.subscribe(events)

    val found = attempt("reader: scan") { runBlocking { readers.scan(500u) } } ?: return
    check("reader: scan finds one supported, unpaired reader",
        found.size == 1 && found[0].model == ReaderModel.HV_BT200 && !found[0].paired)
    val id = found.firstOrNull()?.id ?: return

    // A wrong code first: refused, nothing kept.
    var mark = day.sims.readerOutput.size
    val first = attempt("reader: pair") { runBlocking { readers.pair(id) } } ?: return
    val printed1 = attempt("reader: prints its code") { day.sims.awaitReaderLine(PAIRING_LINE, mark).groupValues[1] }
    check("reader: the phone's code is the one the reader printed", printed1 == first.code)
    val wrong = if (first.code == "000000") "111111" else "000000"
    val refused = try {
        runBlocking { readers.confirmPairing(wrong) }; false
    } catch (e: HomeVisitException.Validation) { e.field == "pairing_code" }
    check("reader: a wrong pairing code is refused", refused)
    check("reader: nothing is paired after the refusal", readers.pairedReaders().isEmpty())

    // The right code on the phone, but nobody confirmed on the reader (its button): refused, and
    // the reader keeps nothing either.
    mark = day.sims.readerOutput.size
    val unconfirmed = attempt("reader: pair without the reader's button") { runBlocking { readers.pair(id) } } ?: return
    attempt("reader: prints the code") { day.sims.awaitReaderLine(PAIRING_LINE, mark) }
    val needsButton = try {
        runBlocking { readers.confirmPairing(unconfirmed.code) }; false
    } catch (e: HomeVisitException.Validation) { e.field == "reader_confirmation" }
    check("reader: pairing without the reader's own confirmation is refused", needsButton)
    check("reader: nothing is paired without the reader's button", readers.pairedReaders().isEmpty())

    // Then the right one, compared with the code the reader-serve process printed, confirmed on
    // the reader (its button) and on the phone.
    mark = day.sims.readerOutput.size
    val pending = attempt("reader: pair again") { runBlocking { readers.pair(id) } } ?: return
    val printed = attempt("reader: prints its new code") { day.sims.awaitReaderLine(PAIRING_LINE, mark).groupValues[1] }
    check("reader: the new code matches the printed one", printed == pending.code)
    val pressed = attempt("reader: press the reader's button") { ble.pressReaderButton() }
    check("reader: the button confirms the code the reader shows", pressed == true)
    val paired = attempt("reader: confirm pairing") { runBlocking { readers.confirmPairing(printed ?: "") } }
        ?: return
    check("reader: paired with HV-BT200", paired.model == ReaderModel.HV_BT200 && paired.id == id)
    check("reader: the pairing is kept", readers.pairedReaders().map { it.id } == listOf(id))

    attempt("reader: connect") { runBlocking { readers.connect(null) } } ?: return
    check("reader: state stream says connecting then ready",
        events.events.toList().takeLast(2) == listOf(ReaderState.Connecting, ReaderState.Ready))
    check("reader: the core's frames went through the Kotlin stack", ble.writes.get() > 0 && ble.notifications.get() > 0)

    // Reconnect without pairing: drop the session, the next operation reconnects on its own. The
    // disconnect is also watched through the android/ layer's Flow of reader states.
    val flowed = attempt("reader: disconnect, watched as a Flow") {
        runBlocking {
            val listening = CompletableDeferred<Unit>()
            val first = async { readers.states(listening).first() }
            listening.await()
            readers.disconnect()
            first.await()
        }
    }
    check("reader: the states Flow saw the disconnect", flowed?.state == ReaderState.Disconnected, "$flowed")
    check("reader: state stream says disconnected", events.events.lastOrNull() == ReaderState.Disconnected)

    // The practitioner PIN: wrong first (tries left), then right (reconnects without pairing).
    val remaining = try {
        runBlocking { readers.verifyPractitionerPin("0000") }; null
    } catch (e: HomeVisitException.WrongPin) { e.remaining.toInt() }
    check("pin: a wrong PIN says 2 tries are left", remaining == 2)
    check("reader: reconnected to the paired reader without pairing",
        events.events.contains(ReaderState.Connecting) && events.events.lastOrNull() == ReaderState.Ready)
    val practitioner = attempt("pin: the right PIN") { runBlocking { readers.verifyPractitionerPin(HPC_PIN) } }
        ?: return
    check("pin: the practitioner is shown masked", practitioner.nationalIdMasked.contains('*'))
    check("pin: the generated record prints no clear ID", practitioner.toString().contains('*'))

    subscription.cancel()
    day.state["reader_ready"] = true
}
