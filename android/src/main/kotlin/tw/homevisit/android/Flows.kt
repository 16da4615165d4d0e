// Kotlin Flows over the core's subscriptions: collecting a Flow registers a listener with the
// core; cancelling the collector (leaving the screen, the ViewModel's scope ending) closes the
// subscription handle, so the core stops calling back. Plain kotlinx.coroutines: no Android SDK
// needed, compiled and tested on the JVM by tests/kotlin/run.sh.
package tw.homevisit.android

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.channels.BufferOverflow
import tw.homevisit.ffi.*

/**
 * The outbox as a Flow: first its state now (counts and jobs), then every change (exact counts and
 * the jobs that changed: a visit queued, a job sent, done, rejected or waiting for retry). The
 * first element also tells the collector that the core is listening. A slow collector loses the
 * oldest changes, never the newest; the counts of any element are always exact.
 */
fun HomeVisitApp.outboxStates(): Flow<OutboxState> = callbackFlow {
    val subscription = subscribeOutbox(object : OutboxListener {
        override fun onOutboxChanged(state: OutboxState) {
            trySend(state)
        }
    })
    send(outboxState())
    awaitClose { subscription.cancel(); subscription.close() }
}.buffer(capacity = 64, onBufferOverflow = BufferOverflow.DROP_OLDEST)

/**
 * The sync engine's progress (started, batch sent, job done, job rejected with the checker's
 * field, retry, drained) as a Flow; cancelling the collector closes the subscription.
 * [subscribed], when given, completes once the core is listening (start a drain after it to see
 * every event of that drain).
 */
fun SyncService.events(subscribed: CompletableDeferred<Unit>? = null): Flow<SyncEvent> = callbackFlow {
    val subscription = subscribe(object : SyncListener {
        override fun onSyncEvent(event: SyncEvent) {
            trySend(event)
        }
    })
    subscribed?.complete(Unit)
    awaitClose { subscription.cancel(); subscription.close() }
}.buffer(Channel.UNLIMITED)

/**
 * The reader's state (disconnected / connecting / ready / card inserted / card removed) as a
 * Flow; cancelling the collector closes the subscription. [subscribed] as for [events].
 */
fun Readers.states(subscribed: CompletableDeferred<Unit>? = null): Flow<ReaderStateEvent> = callbackFlow {
    val subscription = subscribe(object : ReaderStateListener {
        override fun onReaderState(event: ReaderStateEvent) {
            trySend(event)
        }
    })
    subscribed?.complete(Unit)
    awaitClose { subscription.cancel(); subscription.close() }
}.buffer(Channel.UNLIMITED)
