// The day's care-team section ("team record"): the shared record of the day's patient through the
// FFI — the simulator registers the case for this institution's care team (admin fixture: shared
// with a partner institution, which has posted one message), the device pulls it; then with no
// signal a care plan and a copied-then-edited new version, one nurse's visit record with its next
// visit date proposed from the plan, a bad record refused with its field; the discussion's unread
// count; the signal comes back and one drain sends every write; the pull shows them from the server.
//
// Needs: the enrolment section (the device enrolled). Leaves the app online.
package homevisit.test

import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

fun teamSection(day: Day) {
    val app = day.app
    if (day.state["enrolled"] != true) {
        check("team: the device is enrolled (enrolment section)", false, "state=${day.state["enrolled"]}")
        return
    }
    val inst = app.enrolmentStatus().institutionCode
    val fixture = attempt("team: the simulator registers the day's patient for the care team") {
        day.sims.adminGet("/admin/team/demo?institution=$inst")
    } ?: return
    val caseId = Regex("\"case_id\"\\s*:\\s*\"([^\"]+)\"").find(fixture)?.groupValues?.get(1) ?: run {
        check("team: the fixture names its case", false, fixture)
        return
    }
    val team = app.team()
    val sync = app.syncService()
    app.setOnline(true)
    attempt("team: refresh pulls the case") { runBlocking { team.refresh() } } ?: return
    val case = team.cases().firstOrNull { it.caseId() == caseId }
    check("team: the case is on the device, enrolled here, masked in lists",
        case != null && case.enrolling() == inst && case.patientNameMasked() == "王○明",
        "cases=${team.cases().map { it.caseId() }}")
    check("team: the partner's message is an unread notification", team.unreadCount() == 1u, "${team.unreadCount()}")

    app.setOnline(false)
    try {
        val biweekly = VisitFrequency(times = 1u, every = 2u, unit = FrequencyUnit.WEEK)
        val first = attempt("team: offline, add a care plan") {
            team.addPlan(caseId, "維持鼻胃管通暢，預防壓瘡", biweekly, null)
        } ?: return
        val copy = team.currentPlan(caseId)!!
        val second = attempt("team: offline, a new version by copy-then-edit") {
            team.addPlan(caseId, copy.goals() + "；加強家屬灌食技巧", copy.frequency(), copy.id())
        } ?: return
        val plans = team.plans(caseId)
        check("team: both versions kept, the newest shown",
            plans.size == 2 && team.currentPlan(caseId)?.id() == second.id() && second.copiedFrom() == first.id(),
            "plans=${plans.map { it.id() }}")
        val proposed = team.proposeNextVisit(caseId, "1151201")
        check("team: the plan proposes the next visit two weeks on", proposed == "1151215", "$proposed")
        val draft = TeamRecordDraft("", TeamRole.NURSE, "1151201", null, "意識清楚，生命徵象穩定",
            "鼻胃管需更換", "更換鼻胃管，衛教家屬灌食", null)
        val record = attempt("team: offline, a nurse's visit record") { team.saveRecord(caseId, draft) } ?: return
        check("team: the record's next visit date is the proposed one",
            record.nextVisitDate() == "1151215" && record.role() == TeamRole.NURSE, "${record.nextVisitDate()}")
        check("team: generated toString shows no patient data",
            !record.toString().contains("鼻胃管") && !case.toString().contains("王小明"), record.toString())
        expectError("team: an empty problem description is refused with its field",
            { it is HomeVisitException.Validation && it.field == "problem" }) {
            team.saveRecord(caseId, TeamRecordDraft("", TeamRole.NURSE, "1151201", null, "", " ", "服務", null))
        }
        expectError("team: a bad visit date is refused with its field",
            { it is HomeVisitException.Validation && it.field == "visit_date" }) {
            TeamRecordDraft("", TeamRole.NURSE, "1151341", null, "", "問題", "服務", null)
        }
        val reply = attempt("team: offline, reply to the partner") {
            val partnerMsg = team.unread().first()
            team.postMessage(caseId, "好，週三下午兩點", listOf(), partnerMsg.id())
        }
        check("team: my messages lists the reply", team.myMessages().any { it.id() == reply?.id() })
        team.markRead(caseId)
        check("team: read on this device, no unread left", team.unreadCount() == 0u, "${team.unreadCount()}")
        expectError("team: offline, refresh is Network", { it is HomeVisitException.Network }) {
            runBlocking { team.refresh() }
        }
    } finally {
        app.setOnline(true)
    }
    val drained = attempt("team: the signal is back, one drain") { runBlocking { sync.drainOnce(0uL) } }
    attempt("team: refresh") { runBlocking { team.refresh() } }
    val records = team.records(caseId, "1151101", "1151231")
    check("team: the nurse's record came back from the server, with its proposed date",
        records.size == 1 && records[0].nextVisitDate() == "1151215", "records=${records.size} drained=$drained")
    check("team: both plan versions on the server", team.plans(caseId).size == 2, "${team.plans(caseId).size}")
    val members = team.members()
    check("team: the member query lists this institution and the partner",
        members.map { it.institution }.containsAll(listOf(inst, "3501200011")), "$members")
}
