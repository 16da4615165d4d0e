// The day's rx section (placeholder until its owner writes it; fails so that it cannot pass silently).
package homevisit.test

fun rxSection(day: Day) {
    check("rx section written", false, "placeholder")
}
