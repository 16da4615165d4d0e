// The day's e-referral section: one referral walked end to end through the FFI — prefilled from
// the visits of the day (type 01, the patient is this institution's case), opened and sent while
// offline (queued), sent once the network is back, answered `04` "arrange re-referral" by the
// simulated LTC centre (admin routes over the pinned certificate), re-referred (same number,
// count 2), sent again and answered; typed errors (`WrongState`) for what the rules forbid; the
// detail report (masked) and its CSV export in Big5 and UTF-8 with BOM.
//
// Needs: the enrolment section (the device enrolled); uses the visits section's patient when
// there (prefill), else types the form. Leaves the app online.
package homevisit.test

import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

const val SIM_LTC = "LTC6300001"
const val SIM_LTC_2 = "LTC6300002"

/** The simulated LTC centre's admin calls (POST), over the simulator's pinned certificate. */
class LtcCentre(private val sims: Sims) {
    private fun post(path: String, json: String): String = sims.adminPost(path, json)

    /** Enters the processing status (`01`–`04`) and sends it back. */
    fun answer(number: String, status: String, explanation: String) {
        post("/admin/referrals/$number/process", "{\"status\":\"$status\",\"explanation\":\"$explanation\"}")
        post("/admin/referrals/$number/reply", "")
    }

    /** The platform's listing (no patient data). */
    fun list(): String = sims.adminGet("/admin/referrals")
}

private fun unit(code: String, name: String) = ReferralUnit(code = code, name = name, contact = "", phone = "")

fun referralSection(day: Day) {
    val app = day.app
    if (day.state["enrolled"] != true) {
        check("referral: the device is enrolled (enrolment section)", false, "state=${day.state["enrolled"]}")
        return
    }
    val inst = app.enrolmentStatus().institutionCode
    val svc = app.referrals()
    val ltc = LtcCentre(day.sims)
    val sync = app.syncService()
    check("referral: an institution opens 01, 03, 04 (not 02)",
        svc.typesToOpen() == listOf(ReferralKind.HOME_CARE_TO_LTC, ReferralKind.INSTITUTION_TO_LTC,
            ReferralKind.INSTITUTION_TO_HOME_CARE), "${svc.typesToOpen()}")

    app.setOnline(false)
    try {
        val prefill = attempt("referral: prefill type 01 for the day's patient") {
            svc.prefill(ReferralKind.HOME_CARE_TO_LTC, "A123456789")
        } ?: return
        check("referral: the day's patient is this institution's case (birth date prefilled)",
            prefill.isCase() && prefill.draft().birthDate().length == 7 && prefill.visits() > 0u,
            "case=${prefill.isCase()} visits=${prefill.visits()}")
        val me = ReferralUnit(code = inst, name = "居家醫療示範診所", contact = "林護理師", phone = "02-2345-6789")
        val draft = prefill.draft().completed(me, "需長期照顧服務", unit(SIM_LTC, "臺北市長期照顧管理中心"),
            "中風後右側無力，臥床，需協助翻身與進食。")
        expectError("referral: an institution may not open 02 (validation on kind)", {
            it is HomeVisitException.Validation && it.field == "kind"
        }) { svc.open(ReferralKind.LTC_CENTRE_TO_HOME_CARE, draft) }

        val opened = attempt("referral: open offline (the number is made on the device)") {
            svc.open(ReferralKind.HOME_CARE_TO_LTC, draft)
        } ?: return
        val number = opened.number()
        check("referral: 24-character number, count 1, opened-unsent",
            number.length == 24 && number.startsWith(inst) && opened.count() == 1u &&
                opened.senderState() == ReferralSenderState.OPENED_UNSENT, "$number ${opened.senderState()}")
        check("referral: the object prints no patient data",
            DEMO_PATIENTS.none { (id, name) -> opened.toString().contains(id) || opened.toString().contains(name) })
        check("referral: lists show the patient masked", opened.patientNameMasked().contains('○'),
            opened.patientNameMasked())
        attempt("referral: correct before sending") {
            svc.correct(opened.id(), draft.completed(me, "需長期照顧服務（更正）", unit(SIM_LTC, "臺北市長期照顧管理中心"),
                "中風後右側無力，臥床。"))
        }
        val sent = attempt("referral: send offline (queued)") { svc.send(opened.id()) } ?: return
        check("referral: sent, queued in the outbox", sent.senderState() == ReferralSenderState.SENT &&
            svc.delivery(opened.id()) == "queued", "${sent.senderState()} ${svc.delivery(opened.id())}")
        expectError("referral: correcting a sent referral is WrongState", {
            it is HomeVisitException.WrongState && it.action == "correct" && errorCode(it) == "wrong_state"
        }) { svc.correct(opened.id(), draft) }
        expectError("referral: deleting a sent referral is WrongState", {
            it is HomeVisitException.WrongState && it.action == "delete"
        }) { svc.delete(opened.id()) }
        expectError("referral: offline, refresh is Network", { it is HomeVisitException.Network }) {
            runBlocking { svc.refresh() }
        }
        check("referral: offline, the platform has nothing", !ltc.list().contains(number))
    } finally {
        app.setOnline(true)
    }

    val id = svc.find(ReferralSide.SENT, ReferralQuery(nationalId = "A123456789")).lastOrNull()?.id()
        ?: return check("referral: found by national ID", false)
    val number = svc.get(id).number()
    attempt("referral: send now, online") { runBlocking { sync.sendNow() } }
    check("referral: delivered once", svc.delivery(id) == "done", "${svc.delivery(id)}")
    check("referral: the LTC centre received it", ltc.list().contains(number))

    attempt("referral: the LTC centre answers 04 (arrange re-referral)") { ltc.answer(number, "04", "請轉他中心") }
    val refreshed = attempt("referral: refresh brings the reply") { runBlocking { svc.refresh() } }
    check("referral: one reply came in", refreshed?.replies == 1u, "$refreshed")
    val replied = svc.get(id)
    check("referral: replied with 04, re-referral allowed",
        replied.senderState() == ReferralSenderState.REPLIED &&
            replied.processing() == ReferralProcessing.ARRANGE_RE_REFERRAL && replied.canReRefer(),
        "${replied.senderState()} ${replied.processing()}")

    val again = attempt("referral: re-refer to another LTC centre") {
        svc.reRefer(id, unit(SIM_LTC_2, "新北市長期照顧管理中心"))
    } ?: return
    check("referral: same number, count 2, must be sent again",
        again.number() == number && again.count() == 2u && again.senderState() == ReferralSenderState.OPENED_UNSENT,
        "${again.number()} ${again.count()} ${again.senderState()}")
    attempt("referral: send the re-referral") { svc.send(id) }
    attempt("referral: send now") { runBlocking { sync.sendNow() } }
    check("referral: the re-referral was delivered", svc.delivery(id) == "done", "${svc.delivery(id)}")
    attempt("referral: the second LTC centre accepts (01)") { ltc.answer(number, "01", "已收案") }
    attempt("referral: refresh") { runBlocking { svc.refresh() } }
    val done = svc.get(id)
    check("referral: count 2 replied, one earlier round",
        done.count() == 2u && done.senderState() == ReferralSenderState.REPLIED &&
            done.processing() == ReferralProcessing.ACCEPTED && done.earlierRounds() == 1u,
        "${done.count()} ${done.senderState()} ${done.processing()}")

    val rows = attempt("referral: the detail report") {
        svc.report(ReferralReportFilter(kind = ReferralKind.HOME_CARE_TO_LTC, side = ReferralSide.SENT))
    } ?: return
    check("referral: the report row is masked",
        rows.any { it.number == number && it.count == 2u } &&
            rows.none { r -> DEMO_PATIENTS.any { (pid, name) -> r.toString().contains(pid) || r.toString().contains(name) } },
        "${rows.size}")
    val big5 = attempt("referral: CSV export in Big5") {
        svc.exportCsv(ReferralReportFilter(), CsvEncoding.BIG5)
    } ?: return
    val text = String(big5.bytes, charset("Big5"))
    check("referral: the Big5 CSV reads back in Java's Big5", text.startsWith("轉介單號,") && text.contains(number))
    val utf8 = attempt("referral: CSV export in UTF-8 with BOM") {
        svc.exportCsv(ReferralReportFilter(), CsvEncoding.UTF8_BOM)
    } ?: return
    check("referral: the UTF-8 CSV starts with a BOM",
        utf8.bytes.size > 3 && utf8.bytes[0] == 0xEF.toByte() && utf8.bytes[1] == 0xBB.toByte() &&
            utf8.bytes[2] == 0xBF.toByte())
}
