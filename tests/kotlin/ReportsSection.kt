// The day's reports section (issue 14 items 6 and 9) through the FFI, on a virtual day of its own:
// an app opened with a Kotlin clock in its own directory (never enrolled, so every visit stays
// offline). The 9th visit of the virtual day is warned before it is made and still recorded
// (caps never block care); a dedicated home-care doctor's monthly cap; the 3-month due list and
// an at-risk case-management-fee period from a visit three months back; the abnormal-situation
// report (rows, HTML, CSV Big5 and UTF-8) for the offline visits of the day, with patient data
// masked; the upload-quality indicators against their 90% line; typed errors for bad input.
//
// Needs nothing from earlier sections; also reads the day app's own report for today (it must run
// and must not name a patient in clear).
package homevisit.test

import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*
import java.io.File
import java.time.Instant
import java.time.ZoneOffset

/** 2026-12-01 10:00 Taiwan time. */
private const val REPORT_DAY_MS = 1796090400000L
/** 2026-09-10 10:00 Taiwan time: the second patient's last doctor visit. */
private const val THREE_MONTHS_BACK_MS = 1789005600000L
private const val HOUR_MS = 3_600_000L

private fun femaleCard() = CardInput(
    cardNumber = "000012345679", name = "陳美玲", nationalId = "B220415378",
    birthDate = "0400415", sex = "F", issueDate = "1100301",
)

private fun rocToday(ms: Long): String {
    val d = Instant.ofEpochMilli(ms).atOffset(ZoneOffset.ofHours(8)).toLocalDate()
    return "%03d%02d%02d".format(d.year - 1911, d.monthValue, d.dayOfMonth)
}

fun reportsSection(day: Day) {
    val clock = FixedClock(THREE_MONTHS_BACK_MS)
    val dir = File(day.work, "reports-app").apply { mkdirs() }
    val config = AppConfig(dataDir = dir.path, institutionCode = "3501200000", deviceId = "kotlin-reports-device")
    val app = attempt("reports: open an app on a virtual clock") {
        HomeVisitApp.openWithClock(config, KotlinKeyStore(seed = 31), clock)
    } ?: return
    try {
        // Three months back: the second patient's doctor visit.
        runBlocking { app.recordVisit(femaleCard(), details("0001")) }

        // The virtual day: 8 visits of the doctor, two of them offline (F00B).
        clock.nowMs = REPORT_DAY_MS
        val before = app.visitCaps("B234567894")
        check("reports: a fresh day has no cap warning", before.today == 0u && before.warnings.isEmpty(), "$before")
        for (n in 1..8) {
            clock.nowMs = REPORT_DAY_MS + n * 10 * 60_000L
            val seq = if (n <= 2) "F00B" else "%04d".format(n)
            val d = details(seq).copy(abnormalReason = if (n <= 2) "F00B reader offline at the home" else null)
            runBlocking { app.recordVisit(card(), d) }
        }
        val caps = app.visitCaps("B234567894")
        check("reports: the 9th visit of the day is warned before it is made",
            caps.today == 8u && caps.warnings == listOf(CapWarning(CapKind.DAILY, 9u, 8u)), "$caps")
        val ninth = attempt("reports: the 9th visit is still recorded (never blocking)") {
            runBlocking { app.recordVisit(card(), details("0009")) }
        }
        check("reports: the 9th visit has its visit code", ninth != null && CODE.matches(ninth.visitCode))
        check("reports: after it the 10th is warned",
            app.visitCaps("B234567894").warnings.firstOrNull()?.visitNumber == 10u)
        app.setDedicatedHomeCare("B234567894", true)
        val dedicated = app.visitCaps("B234567894")
        check("reports: a dedicated home-care doctor's monthly cap is 240",
            dedicated.dedicatedHomeCare && dedicated.monthlyCap == 240u && app.isDedicatedHomeCare("B234567894"))
        expectError("reports: a blank practitioner → Validation(practitioner_id)",
            { it is HomeVisitException.Validation && it.field == "practitioner_id" }) { app.visitCaps(" ") }

        // The 3-month rule and the case management fee.
        val due = app.attendingVisitsDue(14u)
        check("reports: the case last seen by the doctor 3 months back is coming due",
            due.size == 1 && due[0].maskedId == "B22*****78" && due[0].due == "1151210" &&
                due[0].daysLeft == 9L && !due[0].overdue, "$due")
        val fees = app.caseFeePeriods()
        check("reports: two months without a visit put December's fee at risk",
            fees.size == 1 && fees[0].status == FeePeriodStatus.AT_RISK && fees[0].fromMonth == "11510" &&
                fees[0].months == 2u, "$fees")

        // The abnormal-situation report for the offline visits of the day, the next morning.
        clock.nowMs = REPORT_DAY_MS + 23 * HOUR_MS
        val today = rocToday(REPORT_DAY_MS)
        val rows = app.abnormalReport(today, today)
        check("reports: the two offline visits are on the abnormal-situation report",
            rows.size == 2 && rows.all { it.kind() == AbnormalKind.OFFLINE && it.sequenceCode() == "F00B" },
            rows.map { it.kind() }.toString())
        check("reports: a row says why, masks the patient and has the times",
            rows.firstOrNull()?.let {
                it.reason() == "F00B reader offline at the home" && it.nationalIdMasked() == "A12*****89" &&
                    it.dueAtMs() == it.visitedAtMs() + 24 * HOUR_MS && it.uploadedAtMs() == null
            } == true)
        // A day later every visit of the day missed its 24 hours.
        clock.nowMs = REPORT_DAY_MS + 49 * HOUR_MS
        val late = app.abnormalReport(today, today)
        check("reports: past the deadline every unsent visit is on the report (9 rows)",
            late.size == 9 && late.count { it.kind() == AbnormalKind.OFFLINE_AND_LATE } == 2, "${late.size}")
        val html = app.abnormalReportHtml(today, today)
        File(day.work, "abnormal-report.html").writeText(html)
        check("reports: the HTML report is one page without script",
            html.contains("健保IC卡作業異常狀況報備單") && !html.lowercase().contains("<script") &&
                html.contains("F00B"))
        val big5 = app.abnormalReportCsv(today, today, CsvEncoding.BIG5)
        val big5Text = String(big5.bytes, charset("Big5"))
        check("reports: the Big5 CSV has the header and a line per row",
            big5Text.startsWith("異常起日,") && big5Text.trimEnd().lines().size == 10, big5Text.take(200))
        val utf8 = app.abnormalReportCsv(today, today, CsvEncoding.UTF8_BOM)
        check("reports: the UTF-8 CSV starts with a BOM",
            utf8.bytes.size > 3 && utf8.bytes[0] == 0xEF.toByte() && utf8.bytes[1] == 0xBB.toByte())
        for ((id, name) in DEMO_PATIENTS) {
            check("reports: no patient $id in clear in the report",
                !html.contains(id) && !html.contains(name) && !big5Text.contains(id) && !big5Text.contains(name))
        }
        expectError("reports: a range ending before it starts → Validation(to)",
            { it is HomeVisitException.Validation && it.field == "to" }) { app.abnormalReport(today, "1151130") }
        expectError("reports: a date that is not ROC → Validation(from)",
            { it is HomeVisitException.Validation && it.field == "from" }) { app.abnormalReportHtml("2026-12-01", today) }

        // The upload-quality indicators of the month: nothing was uploaded (never enrolled).
        val quality = app.uploadQuality(2026, 12u)
        val within = quality.firstOrNull { it.kind == "uploaded_within_24h" }
        check("reports: seven indicators, each against the 90% line",
            quality.size == 7 && quality.all { it.linePercent == 90u }, "$quality")
        check("reports: nothing uploaded within 24 h misses the line",
            within != null && within.numerator == 0u && within.denominator == 9u && !within.meetsLine, "$within")
        expectError("reports: month 13 → Validation(month)",
            { it is HomeVisitException.Validation && it.field == "month" }) { app.uploadQuality(2026, 13u) }
    } finally {
        app.close()
    }

    // The day app's own report for today runs and names no patient in clear.
    val now = System.currentTimeMillis()
    val todayHtml = attempt("reports: the day app's report for today") {
        day.app.abnormalReportHtml(rocToday(now), rocToday(now))
    }
    check("reports: the day's report names no patient in clear",
        todayHtml != null && DEMO_PATIENTS.none { (id, name) -> todayHtml.contains(id) || todayHtml.contains(name) })
}
