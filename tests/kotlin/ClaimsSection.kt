// The claims part of the day from Kotlin (issue 14 items 2, 7, 8): a visit by a nurse in hospice
// care (role and care stage set on the visit session, the visit fee proposed from the fee table),
// then the month's claims export: the practitioner's CSV carries the fee code, case type A5, `EC`,
// department EA and the `ECE` marking exactly on emergency visits; the upload XML writes the usage
// (frequency + route) in D08 and never the route in D07 (the site).
package homevisit.test

import java.time.Instant
import java.time.ZoneOffset
import java.util.UUID
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

private fun csvColumn(text: String, name: String): List<String> {
    val lines = text.split("\r\n").filter { it.isNotEmpty() }
    val i = lines.first().split(',').indexOf(name)
    if (i < 0) return emptyList()
    return lines.drop(1).map { it.split(',').getOrElse(i) { "" } }
}

/** Runs the claims section over the reader [readerSection] left connected with the PIN verified. */
fun claimsSection(day: Day) {
    val app = day.app
    if (day.state["reader_ready"] != true) {
        check("claims: the reader section left a connected reader", false)
        return
    }
    app.setOnline(false)
    try {
        val v = attempt("claims: begin a visit") { runBlocking { app.beginVisit() } } ?: return
        val noCare = try { v.addVisitFee(false); false } catch (e: HomeVisitException.Validation) { e.field == "care" }
        check("claims: a visit fee needs the role and care stage first", noCare)
        attempt("claims: set role nurse, stage hospice") { v.setCare(Role.NURSE, CareStage.HOSPICE) }
        check("claims: the hospice nurse visit fee is proposed", attempt("claims: add the visit fee") { v.addVisitFee(false) } == "05321C")
        attempt("claims: diagnosis, drug, fees") {
            v.addDiagnosis("I10")
            v.addDrugOrder("AC45856100", "1", "TID", "PO", 7u.toUShort())
            v.setFees(0u, 0u)
        }
        val refused = try { v.setCare(Role.DOCTOR, CareStage.HOME_MEDICAL); false } catch (e: HomeVisitException.Validation) { e.field == "fee_code" }
        check("claims: a role the fee code does not belong to is refused", refused)
        val s = attempt("claims: finish the visit") { runBlocking { v.finish(UUID.randomUUID().toString()) } } ?: return
        val at = Instant.ofEpochMilli(s.visitedAtUnixMs).atOffset(ZoneOffset.ofHours(8))

        val export = attempt("claims: export the month") {
            app.claims().exportMonth(at.year, at.monthValue.toUInt(), CsvEncoding.UTF8_BOM)
        } ?: return
        check("claims: the export is for the visit's month", export.year() == at.year && export.month() == at.monthValue.toUInt())
        val mine = export.practitioners().firstOrNull { p ->
            String(p.xml(), charset("Big5")).contains(s.visitCode)
        }
        check("claims: the visit is in its practitioner's files", mine != null)
        if (mine == null) return
        val csvBytes = mine.csv().bytes
        check("claims: UTF-8 CSV starts with a BOM", csvBytes.size > 3 && csvBytes[0] == 0xEF.toByte())
        val csv = String(csvBytes, Charsets.UTF_8).removePrefix("\uFEFF")
        val codes = csvColumn(csv, "就醫識別碼")
        val rows = codes.indices.filter { codes[it] == s.visitCode }
        check("claims: one row per order of the visit", rows.size == 2, "${rows.size}")
        val fee = csvColumn(csv, "訪視費代碼")
        val case = csvColumn(csv, "案件分類")
        val ec = csvColumn(csv, "特定治療項目代號")
        val dept = csvColumn(csv, "科別")
        val mark = csvColumn(csv, "急診註記")
        check("claims: the rows carry fee code 05321C", rows.all { fee[it] == "05321C" })
        check("claims: case type A5 with treatment code EC", rows.all { case[it] == "A5" && ec[it] == "EC" })
        check("claims: nurse orders are claimed under department EA", rows.all { dept[it] == "EA" })
        check("claims: a non-emergency visit is not marked ECE", rows.all { mark[it].isEmpty() })
        // ECE exactly where the visit was an emergency (another section may have recorded one).
        val eceVisits = codes.indices.filter { mark[it] == "ECE" }.map { codes[it] }.toSet().size
        check("claims: ECE marks exactly the emergency visits", eceVisits.toUInt() == mine.emergencies())

        val xml = String(mine.xml(), charset("Big5"))
        check("claims: the XML writes the usage in D08", xml.contains("<D06>AC45856100</D06><D08>TID PO</D08>"))
        check("claims: the XML never writes the route into D07 (the site)", !xml.contains("<D07>PO</D07>"))

        val bad = try { app.claims().exportMonth(at.year, 13u, CsvEncoding.BIG5); false } catch (e: HomeVisitException.Validation) { e.field == "month" }
        check("claims: month 13 is refused naming the month", bad)
    } finally {
        app.setOnline(true)
    }
}
