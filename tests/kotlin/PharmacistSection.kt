// The day's pharmacist section: a pharmacist at a counter (not the doctor's app) logs in to the
// VPN simulator's pharmacy service with its demo account, verifies the chronic prescription's QR
// offline, dispenses it once (the second attempt refused with who and when), dispenses the single
// prescription by its one-time code once, and every bad QR or code gets its typed error code.
// Issue 11, finding 4: the QR names the prescriber (masked); `stolenPhoneSection`, the day's last
// section, revokes the app's device and checks the refusals.
//
// Needs: the prescription section's day.state entries, and the sync section having sent the
// registrations (the pharmacy service knows a prescription only once its registration arrived).
package homevisit.test

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.security.SecureRandom
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManager
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/** The institution administrator revokes device [deviceId] on the VPN (admin route); the HTTP status. */
fun revokeDevice(sims: Sims, deviceId: String): Int {
    val http = HttpClient.newBuilder()
        .sslContext(SSLContext.getInstance("TLS").apply {
            init(null, arrayOf<TrustManager>(PinnedTrust(sims.certSha256)), SecureRandom())
        })
        .build()
    val request = HttpRequest.newBuilder(URI.create("${sims.vpnUrl}/admin/devices/$deviceId/revoke"))
        .header("x-admin-token", sims.adminToken)
        .POST(HttpRequest.BodyPublishers.noBody())
        .build()
    return http.send(request, HttpResponse.BodyHandlers.ofString()).statusCode()
}

/** The VPN simulator's demo pharmacy account (simulators/vpn/src/pharmacy/mod.rs DEMO_PHARMACY). */
const val DEMO_PHARMACY = "5901010010"
const val DEMO_PHARMACY_PASSWORD = "pharmacy"

private const val B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

fun base45Decode(text: String): ByteArray {
    val out = java.io.ByteArrayOutputStream()
    var i = 0
    while (i < text.length) {
        val c = (0 until minOf(3, text.length - i)).map { B45.indexOf(text[i + it]) }
        if (c.size == 3) {
            val n = c[0] + c[1] * 45 + c[2] * 45 * 45
            out.write(n / 256); out.write(n % 256)
        } else {
            out.write(c[0] + c[1] * 45)
        }
        i += 3
    }
    return out.toByteArray()
}

fun base45Encode(bytes: ByteArray): String {
    val sb = StringBuilder()
    var i = 0
    while (i < bytes.size) {
        if (i + 1 < bytes.size) {
            val n = (bytes[i].toInt() and 0xff) * 256 + (bytes[i + 1].toInt() and 0xff)
            sb.append(B45[n % 45]).append(B45[(n / 45) % 45]).append(B45[n / 2025])
        } else {
            val n = bytes[i].toInt() and 0xff
            sb.append(B45[n % 45]).append(B45[n / 45])
        }
        i += 2
    }
    return sb.toString()
}

/** The QR with one byte of its signed body changed. */
fun tamper(qr: String): String {
    val bytes = base45Decode(qr.removePrefix("RX:"))
    bytes[30] = (bytes[30].toInt() xor 0x04).toByte()
    return "RX:" + base45Encode(bytes)
}

fun rejectedWith(code: String): (Throwable) -> Boolean = { it is HomeVisitException.Rejected && it.code == code }

fun pharmacistSection(day: Day) {
    val qr = day.state["rx_chronic_qr"] as? String
    val chronicCode = day.state["rx_chronic_visit_code"] as? String
    val oneTimeCode = day.state["rx_single_code"] as? String
    val singleCode = day.state["rx_single_visit_code"] as? String
    if (qr == null || chronicCode == null || oneTimeCode == null || singleCode == null) {
        check("pharmacist: the prescription section left its prescriptions", false, "${day.state.keys}")
        return
    }
    val sims = day.sims
    expectError("pharmacist: a wrong password is refused (unauthorized)", rejectedWith("unauthorized")) {
        runBlocking { Pharmacist.login(sims.vpnUrl, sims.certSha256, DEMO_PHARMACY, "wrong", null) }
    }
    expectError("pharmacist: a certificate pin that is not hex is refused (cert_sha256)",
        { it is HomeVisitException.Validation && it.field == "cert_sha256" }) {
        runBlocking { Pharmacist.login(sims.vpnUrl, "not-hex", DEMO_PHARMACY, DEMO_PHARMACY_PASSWORD, null) }
    }
    val ph = attempt("pharmacist: log in with the demo pharmacy account") {
        runBlocking { Pharmacist.login(sims.vpnUrl, sims.certSha256, DEMO_PHARMACY, DEMO_PHARMACY_PASSWORD, null) }
    } ?: return
    check("pharmacist: logged in as the demo pharmacy", ph.account() == DEMO_PHARMACY)
    check("pharmacist: the published device keys are kept",
        (attempt("pharmacist: refresh keys") { runBlocking { ph.refreshKeys() } } ?: 0u) >= 1u)

    // Offline checks: intact and signed by the enrolled device; each bad QR its own code.
    val verified = attempt("pharmacist: verify the chronic QR offline") { ph.verifyOffline(qr) }
    check("pharmacist: the QR verifies offline, chronic with 3 dispenses",
        verified?.visitCode == chronicCode && verified.chronic && verified.refills == 3u.toUByte() &&
            verified.lines.isNotEmpty(), "$verified")
    check("pharmacist: the QR names the verified prescriber (masked, signed)",
        verified != null && verified.prescriberIdMasked == day.state["rx_prescriber_masked"],
        "${verified?.prescriberIdMasked} vs ${day.state["rx_prescriber_masked"]}")
    expectError("pharmacist: a street QR is not ours (not_ours)", rejectedWith("not_ours")) {
        ph.verifyOffline("WIFI:S:cafe;T:WPA;P:1234;;")
    }
    expectError("pharmacist: a truncated QR is malformed (malformed)", rejectedWith("malformed")) {
        ph.verifyOffline("RX:ZZZ")
    }
    expectError("pharmacist: one byte changed is tampered (tampered)", rejectedWith("tampered")) {
        ph.verifyOffline(tamper(qr))
    }
    expectError("pharmacist: a tampered QR is not dispensed (tampered)", rejectedWith("tampered")) {
        runBlocking { ph.dispenseQr(tamper(qr)) }
    }

    // Scan and dispense by QR once; the second attempt says who and when.
    val scan = attempt("pharmacist: scan the QR") { runBlocking { ph.scan(qr) } }
    check("pharmacist: the scan shows the first dispense due, the patient's ID masked",
        scan?.visitCode() == chronicCode && scan.dueRefill() == 1u.toUByte() &&
            scan.patientIdMasked().contains('*') && scan.lines().isNotEmpty())
    check("pharmacist: the details' toString shows no patient name",
        scan != null && !scan.toString().contains(scan.patientName()), scan?.toString() ?: "")
    val receipt = attempt("pharmacist: dispense by QR") { runBlocking { ph.dispenseQr(qr) } }
    check("pharmacist: receipt for dispense 1 by the demo pharmacy",
        receipt?.refill == 1u.toUByte() && receipt.pharmacy == DEMO_PHARMACY && receipt.dispensedAtUnixMs > 0,
        "$receipt")
    expectError("pharmacist: the second dispense is refused with who and when", {
        it is HomeVisitException.AlreadyDispensed && it.by == DEMO_PHARMACY &&
            it.atUnixMs == receipt?.dispensedAtUnixMs
    }) { runBlocking { ph.dispenseQr(qr) } }

    // By one-time code, once.
    val details = attempt("pharmacist: look up the one-time code") { runBlocking { ph.lookupCode(oneTimeCode.lowercase()) } }
    check("pharmacist: the code finds the single prescription",
        details?.visitCode() == singleCode && details.contact() == RX_CONTACT && !details.chronic())
    val byCode = attempt("pharmacist: dispense by one-time code") { runBlocking { ph.dispenseCode(oneTimeCode) } }
    check("pharmacist: receipt for the single prescription", byCode?.visitCode == singleCode, "$byCode")
    expectError("pharmacist: the code dispensed again is refused (already dispensed)",
        { it is HomeVisitException.AlreadyDispensed && it.by == DEMO_PHARMACY }) {
        runBlocking { ph.dispenseCode(oneTimeCode) }
    }
    expectError("pharmacist: an unknown code is refused (unknown_code)", rejectedWith("unknown_code")) {
        runBlocking { ph.lookupCode("2222-2222") }
    }
}

/**
 * Issue 11, finding 4 — the last section of the day: the phone is reported stolen and the
 * institution administrator revokes it on the VPN. After the pharmacist's key refresh its QR is
 * refused as revoked, offline and by the service, and every VPN route refuses the device itself.
 */
fun stolenPhoneSection(day: Day) {
    val qr = day.state["rx_chronic_qr"] as? String
    if (qr == null) {
        check("stolen phone: the prescription section left its QR", false, "${day.state.keys}")
        return
    }
    val sims = day.sims
    day.app.setOnline(true)
    sims.clearFaults()
    val ph = attempt("stolen phone: the pharmacist logs in") {
        runBlocking { Pharmacist.login(sims.vpnUrl, sims.certSha256, DEMO_PHARMACY, DEMO_PHARMACY_PASSWORD, null) }
    } ?: return
    val deviceId = attempt("stolen phone: the app's device id") { day.app.enrolmentStatus().deviceId } ?: return
    check("stolen phone: the administrator revokes the device (admin route)",
        attempt("stolen phone: revoke") { revokeDevice(sims, deviceId) } == 200)
    attempt("stolen phone: refresh keys after the revocation") { runBlocking { ph.refreshKeys() } }
    expectError("stolen phone: the revoked device's QR is refused offline (revoked)", rejectedWith("revoked")) {
        ph.verifyOffline(qr)
    }
    expectError("stolen phone: a scan of it is refused too (revoked)", rejectedWith("revoked")) {
        runBlocking { ph.scan(qr) }
    }
    expectError("stolen phone: the VPN refuses the revoked device itself (revoked)", rejectedWith("revoked")) {
        runBlocking { day.app.medicloud("A123456789") }
    }
}
