// The day's HMIC case section: one full case life through the FFI — a new enrolment drafted and
// submitted offline (sex from the ID, diagnoses normalised, ADL total computed), sent once the
// network is back; an extension (copies, clears orders; starts the day after the approved end);
// a care-stage change (closes the extension); closing with date and reason; the query and its
// CSV. Then one rule broken offline: a patient another service has enrolled is accepted by the
// device (it cannot know), refused by the NHI as a rejected job with field and reason, corrected
// and re-queued.
//
// Needs: the enrolment section (the device enrolled). Leaves the app online.
package homevisit.test

import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*
import java.time.LocalDate
import java.time.ZoneId

const val CASE_TEAM = "HM00000001"

/** Today in Taiwan as ROC `YYYMMDD`. */
fun rocToday(): String {
    val d = LocalDate.now(ZoneId.of("Asia/Taipei"))
    return String.format("%03d%02d%02d", d.year - 1911, d.monthValue, d.dayOfMonth)
}

/** Fills what a new enrolment needs (care period 1 month, so an extension is due today). */
private fun fill(form: CaseForm, today: String) {
    form.setName("陳大明")
    form.setCareMonths(1u)
    form.setCareStage("E1")
    form.setAdl(today, byteArrayOf(5, 5, 0, 5, 0, 5, 0, 5, 5, 5))
    form.setMuscleStrength("3")
    form.setIntake(true, listOf(CaseIntakeOption.ADL_BELOW60), "", false, listOf())
    form.setDiagnoses(listOf("i63.9", "G45.0"))
    form.setTubeOrder(CaseTube.NG_TUBE, 30u, "矽質", 16u)
}

fun caseSection(day: Day) {
    val app = day.app
    if (day.state["enrolled"] != true) {
        check("hmic case: the device is enrolled (enrolment section)", false, "state=${day.state["enrolled"]}")
        return
    }
    val svc = app.cases()
    val sync = app.syncService()
    val today = rocToday()

    expectError("hmic case: an ID with a wrong check digit is Validation on patient.national_id", {
        it is HomeVisitException.Validation && it.field == "patient.national_id"
    }) { svc.blank("A123456788", "0290517", CASE_TEAM) }

    app.setOnline(false)
    val first: Case
    try {
        val form = attempt("hmic case: a blank form offline") { svc.blank("a123456789", "0290517", CASE_TEAM) } ?: return
        check("hmic case: sex from the ID, application date today", form.sex() == "M" && form.applicationDate() == today,
            "${form.sex()} ${form.applicationDate()}")
        fill(form, today)
        form.setIntake(true, listOf(CaseIntakeOption.DISEASE_TRAIT), "長期臥床且行動不便外出就醫困難需要家人協助搬運下樓梯", false, listOf())
        expectError("hmic case: a 26-character disease trait is Validation on intake.disease_trait", {
            it is HomeVisitException.Validation && it.field == "intake.disease_trait" && it.reason.startsWith("text_limit")
        }) { svc.create(form) }
        form.setIntake(true, listOf(CaseIntakeOption.ADL_BELOW60), "", false, listOf())
        form.setDiagnoses(listOf("1G450"))
        expectError("hmic case: an ICD code with a letter in the wrong place is Validation on diagnoses.0", {
            it is HomeVisitException.Validation && it.field == "diagnoses.0"
        }) { svc.create(form) }
        form.setDiagnoses(listOf("i63.9", "G45.0"))
        val saved = attempt("hmic case: create the draft offline") { svc.create(form) } ?: return
        val draft = saved.case
        check("hmic case: a draft, diagnoses upper case without the dot, ADL 35 severe",
            draft.state() == CaseState.DRAFT && draft.form().diagnoses() == listOf("I639", "G450") &&
                draft.form().adlTotal() == 35u && draft.form().dependency() == "severe",
            "${draft.state()} ${draft.form().diagnoses()} ${draft.form().adlTotal()}")
        check("hmic case: the case prints no patient data",
            !draft.toString().contains("A123456789") && !draft.toString().contains("陳大明"))
        first = attempt("hmic case: submit offline (queued)") { svc.submit(draft.id()) } ?: return
        check("hmic case: submitted, acceptance date today, queued",
            first.state() == CaseState.SUBMITTED && first.acceptanceDate() == today && svc.delivery(first.id()) == "queued",
            "${first.state()} ${first.acceptanceDate()} ${svc.delivery(first.id())}")
        expectError("hmic case: correcting a submitted case is WrongState", {
            it is HomeVisitException.WrongState && it.action == "correct"
        }) { svc.correct(first.id(), draft.form()) }
    } finally {
        app.setOnline(true)
    }
    attempt("hmic case: send now, online") { runBlocking { sync.sendNow() } }
    check("hmic case: the NHI accepted the new enrolment", svc.delivery(first.id()) == "done", "${svc.delivery(first.id())}")

    val ext = attempt("hmic case: extension (copies, clears orders)") { svc.extend(first.id(), null) } ?: return
    check("hmic case: the extension starts the day after the approved end, orders cleared",
        ext.kind() == CaseKind.EXTENSION && !ext.form().hasOrders() && ext.startDate() > first.endDate(),
        "${ext.startDate()} ${first.endDate()}")
    val extForm = ext.form()
    extForm.setTubeOrder(CaseTube.NG_TUBE, 30u, "矽質", 16u)
    attempt("hmic case: fill the extension's orders") { svc.correct(ext.id(), extForm) }
    attempt("hmic case: submit the extension") { svc.submit(ext.id()) }
    attempt("hmic case: send now") { runBlocking { sync.sendNow() } }
    check("hmic case: the extension was accepted", svc.delivery(ext.id()) == "done", "${svc.delivery(ext.id())}")

    val sc = attempt("hmic case: care-stage change (clears stage, intake, orders)") { svc.changeStage(ext.id(), null) } ?: return
    val scForm = sc.form()
    check("hmic case: the stage change starts today with its stage cleared",
        sc.startDate() == today && scForm.careStage() == "", "${sc.startDate()} ${scForm.careStage()}")
    scForm.setCareStage("A1")
    scForm.setIntake(true, listOf(CaseIntakeOption.ADL_BELOW60), "", false, listOf())
    scForm.setTubeOrder(CaseTube.NG_TUBE, 30u, "矽質", 16u)
    attempt("hmic case: fill the stage change") { svc.correct(sc.id(), scForm) }
    attempt("hmic case: submit the stage change") { svc.submit(sc.id()) }
    check("hmic case: the stage change closed the extension",
        svc.get(ext.id()).state() == CaseState.CLOSED && svc.get(ext.id()).closingReason() == "stage_changed")
    attempt("hmic case: send now") { runBlocking { sync.sendNow() } }
    check("hmic case: the stage change was accepted", svc.delivery(sc.id()) == "done", "${svc.delivery(sc.id())}")

    val closed = attempt("hmic case: close with date and reason") { svc.close(sc.id(), today, CaseClosingReason.IMPROVED) }
    check("hmic case: closed", closed?.state() == CaseState.CLOSED && closed.closingReason() == "improved")
    attempt("hmic case: send now") { runBlocking { sync.sendNow() } }

    val q = attempt("hmic case: query today, own team") { runBlocking { svc.query(today, today, CASE_TEAM) } } ?: return
    check("hmic case: three applications today, masked",
        q.rows().size == 3 && q.rows().none { it.toString().contains("A123456789") }, "${q.rows().size}")
    val csv = q.exportCsv(CsvEncoding.UTF8_BOM)
    check("hmic case: the CSV has the header and the team", String(csv.bytes, Charsets.UTF_8).contains(CASE_TEAM))
    expectError("hmic case: another team's query is Rejected not_your_team", {
        it is HomeVisitException.Rejected && it.code == "not_your_team"
    }) { runBlocking { svc.query(today, today, "HM99999999") } }

    // One rule broken offline: the patient is enrolled by general home nursing (the NHI knows).
    app.setOnline(false)
    val dup = try {
        val form = svc.blank("B123456780", "0270304", CASE_TEAM)
        fill(form, today)
        val c = attempt("hmic case: the device drafts a patient it cannot know is enrolled") { svc.create(form) } ?: return
        attempt("hmic case: submit offline") { svc.submit(c.case.id()) } ?: return
    } finally {
        app.setOnline(true)
    }
    attempt("hmic case: send now") { runBlocking { sync.sendNow() } }
    val rejected = sync.rejectedJobs().firstOrNull { it.kind == "hmic_submit" }
    check("hmic case: rejected with field patient.national_id and the rule",
        rejected != null && rejected.fields.any { it.field == "patient.national_id" } &&
            rejected.reason.contains("no_duplicate_enrolment"), "$rejected")
    if (rejected == null) return
    val fixed = dup.form()
    attempt("hmic case: the right patient") { fixed.setPatient("C223456783", "0270304") }
    attempt("hmic case: correct the rejected job (re-queued)") { svc.correctRejected(rejected.jobId, fixed) }
    attempt("hmic case: send now") { runBlocking { sync.sendNow() } }
    check("hmic case: the corrected application was accepted",
        svc.delivery(dup.id()) == "done" && sync.rejectedJobs().none { it.kind == "hmic_submit" },
        "${svc.delivery(dup.id())}")
}
