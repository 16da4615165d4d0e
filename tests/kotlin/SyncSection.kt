// The day's sync section (placeholder until its owner writes it; fails so that it cannot pass silently).
package homevisit.test

fun syncSection(day: Day) {
    check("sync section written", false, "placeholder")
}
