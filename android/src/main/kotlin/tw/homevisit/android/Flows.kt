// Kotlin Flows over the core's subscriptions: collecting a Flow registers a listener with the
// core; cancelling the collector (leaving the screen, the ViewModel's scope ending) closes the
// subscription handle, so the core stops calling back. Plain kotlinx.coroutines: no Android SDK
// needed, compiled and tested on the JVM by tests/kotlin/run.sh.
package tw.homevisit.android

import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.channels.BufferOverflow
import tw.homevisit.ffi.*

/**
 * The outbox as a Flow: first its state now, then every change (a visit queued, a job sent, done,
 * rejected or waiting for retry). The first element also tells the collector that the core is
 * listening. A slow collector loses the oldest states, never the newest.
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
