// The day's prescription section: the institution's order sets downloaded, then served from the
// sealed cache while offline; two visits prescribed from a cached set in a home without signal —
// a chronic continuous prescription (3 dispenses) and a single one — each signed with the
// enrolled device key and its registration queued in the outbox; the QR as PNG and SVG, the
// one-time code, the refill pick-up dates; a second issue refused. A prescription needs the
// practitioner card's PIN verified in the reader session (issue 11, finding 4): with the reader
// disconnected the issue is refused (PractitionerNotVerified); after the PIN it goes through, and
// the prescriber's ID is signed into the QR (the pharmacist section sees it masked).
//
// Needs: the enrolment section (the device enrolled). Leaves for the pharmacist section:
//   day.state["rx_chronic_qr"], ["rx_chronic_visit_code"], ["rx_single_code"], ["rx_single_visit_code"]
// and the app back online (the sync section sends the registrations before the pharmacist).
package homevisit.test

import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

const val RX_CONTACT = "居家醫療示範診所 02-2345-6789"

/** A one-time code as shown: 4 + 4 characters of the unambiguous alphabet. */
val ONE_TIME_CODE = Regex("^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")

fun rxSection(day: Day) {
    val app = day.app
    if (day.state["enrolled"] != true) {
        check("rx: the device is enrolled (enrolment section)", false, "state=${day.state["enrolled"]}")
        return
    }

    // Order sets: downloaded online, then the cache serves offline, with its age.
    val fresh = attempt("rx: refresh order sets online") { runBlocking { app.refreshOrderSets() } } ?: return
    check("rx: order sets downloaded", fresh.origin == OrderSetOrigin.DOWNLOADED && fresh.sets.isNotEmpty(),
        "${fresh.origin} ${fresh.sets.size}")
    check("rx: no downloaded set refused", fresh.refused.isEmpty(), "${fresh.refused}")
    val set = fresh.sets.firstOrNull { it.id == "HT28" } ?: fresh.sets.first()
    check("rx: order-set lines are typed (drug code, frequency, days)",
        set.lines.all { it.drugCode.length == 10 && it.frequency.isNotEmpty() && it.days > 0u.toUShort() },
        "${set.lines}")

    app.setOnline(false)
    try {
        val cached = attempt("rx: refresh order sets offline") { runBlocking { app.refreshOrderSets() } }
        check("rx: offline, the cache serves the same sets",
            cached?.origin == OrderSetOrigin.CACHE && cached.sets == fresh.sets, "${cached?.origin}")
        check("rx: the cached sets carry their download time and age",
            cached?.downloadedAtUnixMs == fresh.downloadedAtUnixMs && (cached?.ageMs ?: -1) >= 0,
            "${cached?.downloadedAtUnixMs} ${cached?.ageMs}")
        check("rx: orderSets() lists the cache without the network",
            attempt("rx: orderSets()") { app.orderSets() }?.sets == fresh.sets)

        // Two visits in a home without signal, prescribed from the cached set.
        val chronicVisit = attempt("rx: record the chronic visit") {
            runBlocking { app.recordVisit(card(), details("0901").copy(visitType = "AH")) }
        } ?: return
        val singleVisit = attempt("rx: record the single visit") {
            runBlocking { app.recordVisit(card(), details("0902").copy(visitType = "AH")) }
        } ?: return
        expectError("rx: an unknown order set id is refused (set_id)", {
            it is HomeVisitException.Validation && it.field == "set_id" ||
                it is HomeVisitException.NotFound
        }) { runBlocking { app.applyOrderSet(chronicVisit.id, "NO-SUCH-SET") } }
        attempt("rx: apply the cached set to both visits offline") {
            runBlocking {
                app.applyOrderSet(chronicVisit.id, set.id)
                app.applyOrderSet(singleVisit.id, set.id)
            }
        } ?: return

        // Finding 4: no verified practitioner card in the session (the reader disconnected, which
        // ends the PIN's verification) — the prescription is refused with its own error.
        attempt("rx: disconnect the reader") { runBlocking { app.readers().disconnect() } }
        expectError("rx: no verified practitioner card: refused (PractitionerNotVerified)",
            { it is HomeVisitException.PractitionerNotVerified }) {
            runBlocking { app.issuePrescription(chronicVisit.id, 3u.toUByte(), RX_CONTACT) }
        }
        val prescriber = attempt("rx: verify the practitioner PIN before prescribing") {
            runBlocking { app.readers().verifyPractitionerPin(HPC_PIN) }
        } ?: return
        check("rx: the prescriber is shown masked", prescriber.nationalIdMasked.contains('*'))
        day.state["rx_prescriber_masked"] = prescriber.nationalIdMasked

        val chronic = attempt("rx: issue a chronic prescription offline") {
            runBlocking { app.issuePrescription(chronicVisit.id, 3u.toUByte(), RX_CONTACT) }
        } ?: return
        val png = chronic.qrPng()
        check("rx: the QR PNG starts with the PNG signature 89 50 4E 47",
            png.size > 8 && png[0] == 0x89.toByte() && png[1] == 0x50.toByte() &&
                png[2] == 0x4E.toByte() && png[3] == 0x47.toByte(), "${png.size} bytes")
        val svg = chronic.qrSvg().trimStart()
        check("rx: the QR SVG is an SVG document", svg.startsWith("<svg") || svg.startsWith("<?xml"), svg.take(20))
        check("rx: the QR text is the signed RX: payload", chronic.qrText().startsWith("RX:"))
        check("rx: the one-time code is shown as XXXX-XXXX",
            ONE_TIME_CODE.matches(chronic.oneTimeCodeDisplay()), chronic.oneTimeCodeDisplay())
        check("rx: the typed one-time code is the display without its dash",
            chronic.oneTimeCode() == chronic.oneTimeCodeDisplay().replace("-", ""))
        check("rx: the pharmacies' barcode is semicolon-separated", chronic.pharmacyBarcode().contains(';'))
        check("rx: chronic, 3 dispenses", chronic.chronic() && chronic.refills() == 3u.toUByte())
        val windows = chronic.pickUpWindows()
        check("rx: 3 pick-up windows, refills 2 and 3 later, each with ROC dates",
            windows.size == 3 && windows.map { it.refill.toInt() } == listOf(1, 2, 3) &&
                windows[1].firstDayUnixMs > chronic.issuedOnUnixMs() &&
                windows[2].firstDayUnixMs > windows[1].lastDayUnixMs &&
                windows.all { it.firstDayUnixMs <= it.lastDayUnixMs && it.firstDayRoc.length == 7 },
            "$windows")
        check("rx: the printout has the refills' pick-up lines", chronic.pickUpLines().size == 2, "${chronic.pickUpLines()}")
        check("rx: the issued prescription's toString shows neither the QR nor the barcode",
            !chronic.toString().contains("RX:") && !chronic.toString().contains(";"), chronic.toString())

        val outbox = attempt("rx: outbox state") { runBlocking { app.outboxState() } }
        check("rx: the registration waits in the outbox, offline",
            outbox?.jobs?.any { it.visitId == chronicVisit.id && it.kind == "rx_registration" && it.status is JobStatus.Queued } == true,
            "${outbox?.jobs?.filter { it.visitId == chronicVisit.id }?.map { it.kind to it.status }}")
        expectError("rx: a second issue of the same visit is refused (prescription)",
            { it is HomeVisitException.Validation && it.field == "prescription" }) {
            runBlocking { app.issuePrescription(chronicVisit.id, 3u.toUByte(), RX_CONTACT) }
        }

        val single = attempt("rx: issue a single prescription offline") {
            runBlocking { app.issuePrescription(singleVisit.id, null, RX_CONTACT) }
        } ?: return
        check("rx: a single prescription has one pick-up window",
            !single.chronic() && single.pickUpWindows().size == 1 && single.pickUpLines().isEmpty())

        day.state["rx_chronic_qr"] = chronic.qrText()
        day.state["rx_chronic_visit_code"] = chronic.visitCode()
        day.state["rx_single_code"] = single.oneTimeCodeDisplay()
        day.state["rx_single_visit_code"] = single.visitCode()
    } finally {
        app.setOnline(true)
    }
}
