// The day's pharmacist section (placeholder until its owner writes it; fails so that it cannot pass silently).
package homevisit.test

fun pharmacistSection(day: Day) {
    check("pharmacist section written", false, "placeholder")
}
