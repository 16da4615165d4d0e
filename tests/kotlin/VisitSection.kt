// The day's visit section (placeholder until its owner writes it; fails so that it cannot pass silently).
package homevisit.test

fun visitSection(day: Day) {
    check("visit section written", false, "placeholder")
}
