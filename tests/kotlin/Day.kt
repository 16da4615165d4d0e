// The harness of the Kotlin day: the simulators run as separate processes, as an app developer
// would run them (`homevisit-sim vpn serve`, `homevisit-sim reader serve`), and the sections of
// the day (one file each: EnrolSection.kt, ReaderSection.kt, VisitSection.kt, RxSection.kt,
// SyncSection.kt, PharmacistSection.kt) run in order against one app over one data directory.
//
// What a section gets (`Day`):
//   day.app            the HomeVisitApp, opened over day.dataDir with the system clock
//   day.sims.vpnUrl / certSha256 / adminToken / qr2 / pin     the VPN simulator and its first binding
//   day.sims.newBinding()                                     another QR-2 + PIN (admin route)
//   day.sims.setFaults(json) / clearFaults()                  fault injection (admin route)
//   day.sims.adminGet(path)                                   e.g. "/admin/visits?code=…"
//   day.sims.readerHost / readerPort / readerOutput           the reader simulator's socket and output
//   day.sims.awaitReaderLine(regex)                           e.g. the pairing code the reader shows
//   day.state                                                 what earlier sections left for later ones
// and the top-level check(name, ok, detail) / attempt(name) { } / expectError(...) of Main.kt.
package homevisit.test

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.security.SecureRandom
import java.security.cert.X509Certificate
import java.time.Duration
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManager
import javax.net.ssl.X509TrustManager
import tw.homevisit.ffi.*

/** A simulator process; its stdout lines are kept and can be awaited. */
class SimProcess(val name: String, command: List<String>, log: File) {
    private val process: Process = ProcessBuilder(command)
        .redirectErrorStream(true)
        .start()
    val lines = CopyOnWriteArrayList<String>()
    private val fresh = LinkedBlockingQueue<String>()

    init {
        val reader = BufferedReader(InputStreamReader(process.inputStream, Charsets.UTF_8))
        Thread({
            log.printWriter().use { out ->
                while (true) {
                    val line = reader.readLine() ?: break
                    lines.add(line)
                    fresh.add(line)
                    out.println(line)
                    out.flush()
                }
            }
        }, "$name-output").apply { isDaemon = true; start() }
    }

    /**
     * The first line (already printed or still to come) matching [pattern]. The bound only guards
     * against a simulator that died: a correct one prints within milliseconds.
     */
    fun awaitLine(pattern: Regex, fromIndex: Int = 0, timeoutSeconds: Long = 120): MatchResult {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds)
        var seen = fromIndex
        while (true) {
            while (seen < lines.size) {
                pattern.find(lines[seen])?.let { return it }
                seen++
            }
            if (!process.isAlive && seen >= lines.size) error("$name exited before printing /$pattern/")
            val left = deadline - System.nanoTime()
            if (left <= 0) error("$name did not print /$pattern/ (printed: ${lines.takeLast(5)})")
            fresh.poll(minOf(left, TimeUnit.MILLISECONDS.toNanos(200)), TimeUnit.NANOSECONDS)
        }
    }

    fun stop() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

/** The two simulators of the day, started as processes of the `homevisit-sim` binary. */
class Sims(simBin: String, work: File) {
    val vpn = SimProcess(
        "vpn",
        listOf(simBin, "vpn", "serve", "--port", "0", "--data-dir", File(work, "sim-vpn").path),
        File(work, "sim-vpn.log"),
    )
    val reader = SimProcess(
        "reader",
        listOf(simBin, "reader", "serve", "--port", "0", "--state-dir", File(work, "sim-reader").path),
        File(work, "sim-reader.log"),
    )
    val vpnUrl: String = vpn.awaitLine(Regex("listening on (https://\\S+)")).groupValues[1]
    val certSha256: String = vpn.awaitLine(Regex("certificate\\s+SHA-256 ([0-9a-f]{64})")).groupValues[1]
    val adminToken: String = vpn.awaitLine(Regex("admin token\\s+(\\S+)")).groupValues[1]
    val qr2: String = vpn.awaitLine(Regex("QR-2 payload\\s+(\\S+)")).groupValues[1]
    val pin: String = vpn.awaitLine(Regex("PIN\\s+(\\d+)")).groupValues[1]
    private val readerAddr = reader.awaitLine(Regex("\\(id (\\S+)\\) listening on ([0-9.]+):(\\d+)"))
    val readerId: String = readerAddr.groupValues[1]
    val readerHost: String = readerAddr.groupValues[2]
    val readerPort: Int = readerAddr.groupValues[3].toInt()

    /** Everything the reader simulator printed so far. */
    val readerOutput: List<String> get() = reader.lines

    /** Waits for a line of the reader simulator printed at or after [fromIndex]. */
    fun awaitReaderLine(pattern: Regex, fromIndex: Int = 0): MatchResult = reader.awaitLine(pattern, fromIndex)

    // The simulator's certificate is self-signed; the admin calls of the test trust it only after
    // checking it is the one the simulator printed (the app pins it itself).
    private val http: HttpClient = HttpClient.newBuilder()
        .sslContext(SSLContext.getInstance("TLS").apply {
            init(null, arrayOf<TrustManager>(PinnedTrust(certSha256)), SecureRandom())
        })
        .connectTimeout(Duration.ofSeconds(30))
        .build()

    private fun admin(method: String, path: String, json: String? = null): String {
        val body = if (json == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(json)
        val request = HttpRequest.newBuilder(URI.create(vpnUrl + path))
            .header("x-admin-token", adminToken)
            .header("content-type", "application/json")
            .method(method, body)
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        if (response.statusCode() / 100 != 2) error("admin $method $path: HTTP ${response.statusCode()} ${response.body()}")
        return response.body()
    }

    /** GET on an admin route (e.g. `/admin/visits?code=…`), the JSON text. */
    fun adminGet(path: String): String = admin("GET", path)

    /** POST of [json] to a simulator route with the admin token (admin routes and the simulated
     *  patient app alike), the JSON text; anything but 2xx throws with the status and body. */
    fun adminPost(path: String, json: String = ""): String = admin("POST", path, json)

    /** A new QR-2 payload and PIN for one more device. */
    fun newBinding(): Pair<String, String> {
        val json = admin("POST", "/admin/bindings")
        val qr = Regex("\"qr\"\\s*:\\s*\"([^\"]+)\"").find(json)?.groupValues?.get(1) ?: error("no qr in $json")
        val pin = Regex("\"pin\"\\s*:\\s*\"([^\"]+)\"").find(json)?.groupValues?.get(1) ?: error("no pin in $json")
        return qr to pin
    }

    /** Sets the server's faults, e.g. `{"failure_rate":1.0,"kinds":["Truncate"],"seed":1}`. */
    fun setFaults(json: String) { admin("PUT", "/admin/faults", json) }

    /** No more faults. */
    fun clearFaults() = setFaults("{\"failure_rate\":0.0}")

    fun stop() {
        vpn.stop()
        reader.stop()
    }
}

/** Trusts exactly the certificate whose SHA-256 the simulator printed. */
class PinnedTrust(private val sha256Hex: String) : X509TrustManager {
    override fun checkClientTrusted(chain: Array<out X509Certificate>, authType: String) = error("no client certs")
    override fun checkServerTrusted(chain: Array<out X509Certificate>, authType: String) {
        val digest = java.security.MessageDigest.getInstance("SHA-256").digest(chain[0].encoded)
        val hex = digest.joinToString("") { "%02x".format(it) }
        if (hex != sha256Hex) throw java.security.cert.CertificateException("not the simulator's certificate")
    }
    override fun getAcceptedIssuers(): Array<X509Certificate> = arrayOf()
}

/** The simulated patient cards' IDs and names (nhi_reader_sim::card::demo_patients): what must never leak. */
val DEMO_PATIENTS = listOf(
    "A123456789" to "王小明", "B220415378" to "陳美玲", "F128703126" to "林志豪", "H223196849" to "黃淑芬",
)

/** The day's shared context. */
class Day(val work: File, val sims: Sims, val dataDir: File, val app: HomeVisitApp) {
    /** What earlier sections leave for later ones (visit ids, the issued QR text, …), by name. */
    val state = ConcurrentHashMap<String, Any>()
}

/** The sections of the day, in order. */
val DAY_SECTIONS: List<Pair<String, (Day) -> Unit>> = listOf(
    "enrolment" to ::enrolSection,
    "reader" to ::readerSection,
    "visits" to ::visitSection,
    "prescriptions" to ::rxSection,
    "sync" to ::syncSection,
    "pharmacist" to ::pharmacistSection,
    "virtual card" to ::virtualCardSection,
    "recovery" to ::recoverySection,
    "referral" to ::referralSection,
    "corrections" to ::correctionSection,
    "team record" to ::teamSection,
    "claims" to ::claimsSection,
    "reports" to ::reportsSection,
    "card-less and emergency" to ::cardLessSection,
    "hmic case" to ::caseSection,
    // Last: it revokes the app's device, after which every VPN route refuses it.
    "stolen phone" to ::stolenPhoneSection,
)

/** Runs the day: starts the simulators, opens the app, runs every section, stops the simulators. */
fun runDay(work: File, openApp: (File) -> HomeVisitApp) {
    val simBin = System.getenv("HOMEVISIT_SIM")
    if (simBin.isNullOrEmpty() || !File(simBin).canExecute()) {
        check("the day: HOMEVISIT_SIM names the homevisit-sim binary", false, "HOMEVISIT_SIM=$simBin")
        return
    }
    val dayDir = File(work, "day").apply { mkdirs() }
    val sims = attempt("the day: start the simulators as processes") { Sims(simBin, dayDir) } ?: return
    try {
        check("the day: VPN simulator printed a QR-2 and a PIN", sims.qr2.isNotEmpty() && sims.pin.isNotEmpty())
        check("the day: reader simulator listens on loopback", sims.readerPort > 0, "${sims.readerPort}")
        val dataDir = File(dayDir, "app").apply { mkdirs() }
        val app = attempt("the day: open the app") { openApp(dataDir) } ?: return
        val day = Day(dayDir, sims, dataDir, app)
        for ((name, section) in DAY_SECTIONS) {
            println("--- day: $name")
            try {
                section(day)
            } catch (e: Throwable) {
                check("the day: section '$name' ran to its end", false, "threw $e")
            }
        }
        app.close()
    } finally {
        sims.stop()
    }
}
