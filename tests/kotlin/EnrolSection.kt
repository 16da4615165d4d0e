// The day's enrolment section: a garbage QR-2 and a bad PIN are typed errors naming their field,
// a wrong PIN says how many attempts are left, the device enrols with the QR-2 + PIN that the VPN
// simulator process printed, and a used QR-2 is refused with its stable code.
package homevisit.test

import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

fun enrolSection(day: Day) {
    val app = day.app
    val before = attempt("enrol: status before enrolment") { app.enrolmentStatus() }
    check("enrol: not enrolled at first", before?.enrolled == false, "$before")
    expectError("enrol: a drain before enrolment → NotEnrolled (code not_enrolled)", {
        it is HomeVisitException.NotEnrolled && errorCode(it) == "not_enrolled"
    }) { runBlocking { app.syncService().drainOnce(0uL) } }

    expectError("enrol: garbage QR-2 → Validation(binding_qr)", {
        it is HomeVisitException.Validation && it.field == "binding_qr" && errorCode(it) == "validation"
    }) { runBlocking { app.enrol("HVQR2:{not json at all", day.sims.pin, "kotlin day device") } }
    expectError("enrol: a PIN with letters → Validation(pin)", {
        it is HomeVisitException.Validation && it.field == "pin"
    }) { runBlocking { app.enrol(day.sims.qr2, "12ab56", "kotlin day device") } }

    // A wrong PIN on a second binding (the printed one stays fresh for the real enrolment).
    val (otherQr, otherPin) = day.sims.newBinding()
    val wrongPin = if (otherPin == "000000") "111111" else "000000"
    expectError("enrol: wrong PIN → WrongPin with the attempts left", {
        it is HomeVisitException.WrongPin && it.remaining > 0u && errorCode(it) == "wrong_pin"
    }) { runBlocking { app.enrol(otherQr, wrongPin, "kotlin day device") } }
    check("enrol: still not enrolled after the refusals", app.enrolmentStatus().enrolled == false)

    val status = attempt("enrol: with the QR-2 + PIN the simulator process printed") {
        runBlocking { app.enrol(day.sims.qr2, day.sims.pin, "kotlin day device") }
    }
    check("enrol: enrolled for the institution with a device id and a SAM id",
        status != null && status.enrolled && status.institutionCode == "3501200000" &&
            status.deviceId.isNotEmpty() && status.samId.isNotEmpty(), "$status")
    check("enrol: enrolmentStatus() agrees", app.enrolmentStatus() == status, "${app.enrolmentStatus()}")
    expectError("enrol: the used QR-2 again → Rejected(token_used)", {
        it is HomeVisitException.Rejected && it.code == "token_used" && errorCode(it) == "rejected"
    }) { runBlocking { app.enrol(day.sims.qr2, day.sims.pin, "kotlin day device") } }
    check("enrol: the refusal kept the enrolment", app.enrolmentStatus() == status)
    check("enrol: every error code is listed", errorCodes().containsAll(
        listOf("wrong_pin", "validation", "not_enrolled", "rejected", "already_open", "clock_skew",
            "certificate_mismatch", "network", "internal")), "${errorCodes()}")
    day.state["enrolled"] = status?.enrolled == true
}
