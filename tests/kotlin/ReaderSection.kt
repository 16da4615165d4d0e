// The day's reader section (placeholder until its owner writes it; fails so that it cannot pass silently).
package homevisit.test

fun readerSection(day: Day) {
    check("reader section written", false, "placeholder")
}
