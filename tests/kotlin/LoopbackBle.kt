// A Kotlin implementation of the core's BLE callback interface (`HostBle`) that talks to
// `homevisit-sim reader serve` over its TCP loopback socket, as an Android BluetoothGatt adapter
// would talk to the radio: scan, connect (→ MTU + GATT services), write with or without response,
// notifications and link loss pushed back into the core's `BleEvents`, disconnect.
//
// The wire (core/src/reader/loopback.rs): each message is a u32 big-endian length and a JSON
// `WireMsg` as serde writes it (externally tagged: {"Scan":{"service":"…"}}, "Disconnect"; byte
// values as arrays of numbers). Plain JDK only: a small encoder and parser for exactly these.
package homevisit.test

import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.EOFException
import java.net.InetSocketAddress
import java.net.Socket
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.TimeUnit
import tw.homevisit.ffi.*

/** Minimal JSON for the loopback wire: objects, arrays, strings, numbers, booleans, null. */
object Json {
    fun str(s: String): String {
        val b = StringBuilder("\"")
        for (c in s) when {
            c == '"' -> b.append("\\\"")
            c == '\\' -> b.append("\\\\")
            c < ' ' -> b.append(String.format("\\u%04x", c.code))
            else -> b.append(c)
        }
        return b.append('"').toString()
    }

    fun bytes(v: ByteArray): String = v.joinToString(",", "[", "]") { (it.toInt() and 0xff).toString() }

    fun parse(text: String): Any? {
        val p = Parser(text)
        val v = p.value()
        p.ws()
        require(p.i == text.length) { "trailing characters in a wire message" }
        return v
    }

    private class Parser(val s: String) {
        var i = 0
        fun ws() { while (i < s.length && s[i].isWhitespace()) i++ }
        fun value(): Any? {
            ws()
            require(i < s.length) { "truncated wire message" }
            return when (s[i]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> string()
                't' -> lit("true", true)
                'f' -> lit("false", false)
                'n' -> lit("null", null)
                else -> number()
            }
        }
        fun lit(word: String, v: Any?): Any? {
            require(s.startsWith(word, i)) { "bad literal" }
            i += word.length
            return v
        }
        fun number(): Long {
            val start = i
            if (s[i] == '-') i++
            while (i < s.length && s[i].isDigit()) i++
            require(i > start) { "bad number" }
            return s.substring(start, i).toLong()
        }
        fun string(): String {
            i++ // opening quote
            val b = StringBuilder()
            while (true) {
                require(i < s.length) { "unterminated string" }
                val c = s[i++]
                when (c) {
                    '"' -> return b.toString()
                    '\\' -> {
                        val e = s[i++]
                        when (e) {
                            'n' -> b.append('\n'); 't' -> b.append('\t'); 'r' -> b.append('\r')
                            'b' -> b.append('\b'); 'f' -> b.append('\u000c')
                            'u' -> { b.append(s.substring(i, i + 4).toInt(16).toChar()); i += 4 }
                            else -> b.append(e)
                        }
                    }
                    else -> b.append(c)
                }
            }
        }
        fun arr(): List<Any?> {
            i++
            val out = ArrayList<Any?>()
            ws()
            if (s[i] == ']') { i++; return out }
            while (true) {
                out.add(value()); ws()
                when (s[i++]) { ',' -> continue; ']' -> return out; else -> error("bad array") }
            }
        }
        fun obj(): Map<String, Any?> {
            i++
            val out = LinkedHashMap<String, Any?>()
            ws()
            if (s[i] == '}') { i++; return out }
            while (true) {
                ws(); val k = string(); ws()
                require(s[i++] == ':') { "bad object" }
                out[k] = value(); ws()
                when (s[i++]) { ',' -> continue; '}' -> return out; else -> error("bad object") }
            }
        }
    }
}

/** One wire message: its variant name and fields (a unit variant has no fields). */
data class Wire(val tag: String, val fields: Map<String, Any?>)

private fun frame(out: DataOutputStream, json: String) {
    val body = json.toByteArray(Charsets.UTF_8)
    synchronized(out) {
        out.writeInt(body.size)
        out.write(body)
        out.flush()
    }
}

private fun readWire(inp: DataInputStream): Wire? {
    val len = try { inp.readInt() } catch (e: EOFException) { return null }
    require(len in 0..(1 shl 20)) { "wire message of $len bytes refused" }
    val body = ByteArray(len)
    inp.readFully(body)
    return when (val v = Json.parse(String(body, Charsets.UTF_8))) {
        is String -> Wire(v, emptyMap())
        is Map<*, *> -> {
            val (k, f) = v.entries.single()
            @Suppress("UNCHECKED_CAST")
            Wire(k as String, (f as? Map<String, Any?>) ?: emptyMap())
        }
        else -> error("unexpected wire message")
    }
}

private fun bytesOf(v: Any?): ByteArray = (v as List<*>).map { (it as Long).toByte() }.toByteArray()

/**
 * The host BLE stack of this test: each "peripheral" is the reader simulator at 127.0.0.1:[port];
 * each connection is its own TCP socket with a reader thread, as a GATT callback thread would be.
 */
class LoopbackBle(private val port: Int) : HostBle {
    /** One open connection: its socket, the writes waiting for their acknowledgement, in order. */
    private class Conn(val socket: Socket, val out: DataOutputStream, val events: BleEvents) {
        val acks = ConcurrentLinkedQueue<CompletableFuture<String?>>()
        @Volatile var closedByUs = false
    }

    private val conns = ConcurrentHashMap<String, Conn>()
    val writes = java.util.concurrent.atomic.AtomicInteger(0)
    val notifications = java.util.concurrent.atomic.AtomicInteger(0)

    private fun dial(): Socket = try {
        Socket().also { it.connect(InetSocketAddress("127.0.0.1", port), 5000); it.tcpNoDelay = true }
    } catch (e: Exception) {
        throw BleException.Failed("no reader simulator on port $port: ${e.javaClass.simpleName} ${e.message}")
    }

    override fun scan(serviceUuid: String, timeoutMs: UInt): List<BlePeripheral> {
        dial().use { s ->
            s.soTimeout = maxOf(timeoutMs.toInt(), 2000)
            frame(DataOutputStream(s.getOutputStream()), "{\"Scan\":{\"service\":${Json.str(serviceUuid)}}}")
            val reply = readWire(DataInputStream(s.getInputStream()))
                ?: throw BleException.Failed("the simulator closed the scan")
            if (reply.tag != "ScanResult") throw BleException.Failed("unexpected scan reply ${reply.tag}")
            return (reply.fields["readers"] as List<*>).map {
                val r = it as Map<*, *>
                BlePeripheral(id = r["id"] as String, name = r["name"] as String, rssi = (r["rssi"] as Long).toShort())
            }
        }
    }

    /**
     * Simulator only: the user presses the reader's button — the reader's own confirmation of the
     * pairing code it shows (`PressButton` on the wire). True when it confirmed a shown code.
     */
    fun pressReaderButton(): Boolean {
        dial().use { s ->
            s.soTimeout = 5000
            frame(DataOutputStream(s.getOutputStream()), "\"PressButton\"")
            val reply = readWire(DataInputStream(s.getInputStream()))
                ?: throw BleException.Failed("the simulator closed the button press")
            if (reply.tag != "ButtonPressed") throw BleException.Failed("unexpected button reply ${reply.tag}")
            return reply.fields["confirmed"] as Boolean
        }
    }

    override fun connect(peripheralId: String, events: BleEvents): BleLink {
        conns.remove(peripheralId)?.let { close(it) }
        val s = dial()
        val out = DataOutputStream(s.getOutputStream())
        val inp = DataInputStream(s.getInputStream())
        frame(out, "{\"Connect\":{\"id\":${Json.str(peripheralId)}}}")
        val reply = readWire(inp)
        if (reply?.tag != "Connected") {
            s.close()
            val why = (reply?.fields?.get("message") as? String) ?: "no answer"
            throw BleException.Failed(why)
        }
        val services = (reply.fields["services"] as List<*>).map { sv ->
            val m = sv as Map<*, *>
            BleService(
                uuid = m["uuid"] as String,
                characteristics = (m["characteristics"] as List<*>).map { c ->
                    val cm = c as Map<*, *>
                    val p = cm["props"] as Map<*, *>
                    BleCharacteristic(
                        uuid = cm["uuid"] as String, write = p["write"] as Boolean,
                        writeWithoutResponse = p["write_without_response"] as Boolean, notify = p["notify"] as Boolean,
                    )
                },
            )
        }
        val conn = Conn(s, out, events)
        conns[peripheralId] = conn
        Thread({ pump(peripheralId, conn, inp) }, "ble-gatt-$peripheralId").apply { isDaemon = true; start() }
        return BleLink(mtu = (reply.fields["mtu"] as Long).toInt().toUShort(), services = services)
    }

    /** The GATT callback thread: notifications, write acknowledgements, link loss. */
    private fun pump(id: String, conn: Conn, inp: DataInputStream) {
        val reason = try {
            var why: String
            while (true) {
                val m = readWire(inp)
                if (m == null) { why = "the simulator closed the connection"; break }
                when (m.tag) {
                    "Notify" -> {
                        notifications.incrementAndGet()
                        conn.events.onNotification(m.fields["characteristic"] as String, bytesOf(m.fields["value"]))
                    }
                    "WriteResult" -> conn.acks.poll()?.complete(m.fields["error"] as String?)
                    "Disconnected" -> { why = m.fields["reason"] as String; break }
                    else -> { why = "unexpected ${m.tag} from the simulator"; break }
                }
            }
            why
        } catch (e: Exception) {
            "link lost: ${e.javaClass.simpleName}"
        }
        while (true) (conn.acks.poll() ?: break).complete("disconnected")
        conns.remove(id, conn)
        try { conn.socket.close() } catch (_: Exception) {}
        if (!conn.closedByUs) conn.events.onDisconnected(reason)
    }

    override fun enableNotifications(peripheralId: String, characteristicUuid: String) {
        // The simulator notifies on TX as soon as the link is up; a real adapter writes the CCCD here.
        if (!conns.containsKey(peripheralId)) throw BleException.Disconnected()
    }

    override fun write(peripheralId: String, characteristicUuid: String, value: ByteArray, withResponse: Boolean) {
        val conn = conns[peripheralId] ?: throw BleException.Disconnected()
        // Every write is acknowledged in order; only a write with response waits for it.
        val ack = CompletableFuture<String?>()
        val kind = if (withResponse) "WithResponse" else "WithoutResponse"
        try {
            synchronized(conn.out) {
                conn.acks.add(ack)
                frame(conn.out, "{\"Write\":{\"characteristic\":${Json.str(characteristicUuid)}," +
                    "\"value\":${Json.bytes(value)},\"kind\":\"$kind\"}}")
            }
        } catch (e: Exception) {
            throw BleException.Disconnected()
        }
        writes.incrementAndGet()
        if (withResponse) {
            val error = try { ack.get(10, TimeUnit.SECONDS) } catch (e: Exception) { throw BleException.Timeout() }
            when (error) {
                null -> {}
                "disconnected" -> throw BleException.Disconnected()
                else -> throw BleException.Failed(error)
            }
        }
    }

    override fun disconnect(peripheralId: String) {
        conns.remove(peripheralId)?.let { close(it) }
    }

    private fun close(conn: Conn) {
        conn.closedByUs = true
        try { frame(conn.out, "\"Disconnect\"") } catch (_: Exception) {}
        try { conn.socket.close() } catch (_: Exception) {}
    }
}
