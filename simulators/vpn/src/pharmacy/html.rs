//! The pharmacy web page, rendered on the server (no script): log in, type the one-time code or
//! paste the scanned QR text, see the details, "dispense complete", print view.

use homevisit_core::rx::orderset::format_centi;
use homevisit_core::rx::pharmacy::PharmacyError;
use homevisit_core::rx::pharmacy::wire::{Details, Receipt};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The page's one style block (the Content-Security-Policy allows exactly this text, by hash).
pub const STYLE: &str = "body{font-family:sans-serif;max-width:50em;margin:2em auto}\
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em}\
.ok{color:#060}.refused{color:#a00}@media print{form,.noprint{display:none}}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-Hant\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    )
}

/// The hidden anti-forgery field every form of a session carries.
fn csrf_field(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(csrf))
}

/// The login form (with an optional error line).
pub fn login(error: Option<&str>) -> String {
    let err = error.map_or(String::new(), |e| {
        format!("<p id=\"error\" class=\"refused\">{}</p>", esc(e))
    });
    page(
        "居家輕量藍牙方案調劑作業 — 藥局登入 Pharmacy login",
        &format!(
            "{err}<form method=\"post\" action=\"/pharmacy/login\">\
             <label>藥局代碼 Pharmacy code <input id=\"pharmacy\" name=\"pharmacy\" required></label><br>\
             <label>密碼 Password <input id=\"password\" name=\"password\" type=\"password\" required></label><br>\
             <button id=\"login\" type=\"submit\">登入 Log in</button></form>"
        ),
    )
}

fn search_form(csrf: &str) -> String {
    if csrf.is_empty() {
        return String::new();
    }
    format!(
        "<form method=\"post\" action=\"/pharmacy/find\">{}\
         <label>一次性驗證碼或掃描內容 One-time code or scanned QR \
         <input id=\"query\" name=\"query\" size=\"40\" autofocus required></label> \
         <button id=\"find\" type=\"submit\">查詢 Find</button></form>",
        csrf_field(csrf)
    )
}

/// The search page of a logged-in pharmacy.
pub fn search(pharmacy: &str, csrf: &str) -> String {
    page(
        "調劑作業 Dispensing",
        &format!(
            "<p id=\"who\">藥局 Pharmacy {}</p>{}<form method=\"post\" action=\"/pharmacy/logout\">{}\
             <button id=\"logout\">登出 Log out</button></form>",
            esc(pharmacy),
            search_form(csrf),
            csrf_field(csrf)
        ),
    )
}

fn lines_table(d: &Details) -> String {
    let mut t = String::from(
        "<table id=\"lines\"><tr><th>藥品代碼 Code</th><th>劑量 Dose</th><th>頻率 Freq</th>\
         <th>途徑 Route</th><th>日數 Days</th><th>總量 Total</th></tr>",
    );
    for l in &d.lines {
        t.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}.{}</td></tr>",
            esc(&l.drug_code),
            format_centi(l.dose_centi),
            esc(&l.frequency),
            esc(&l.route),
            l.days,
            l.total_deci / 10,
            l.total_deci % 10
        ));
    }
    t.push_str("</table>");
    t
}

fn refills_table(d: &Details) -> String {
    let mut t = String::from(
        "<table id=\"refills\"><tr><th>次 Refill</th><th>領藥期間 Pick-up</th><th>狀態 Status</th></tr>",
    );
    for r in &d.refills {
        let who = match (&r.dispensed_by, &r.dispensed_at) {
            (Some(b), Some(a)) => format!(" ({} {})", esc(b), esc(a)),
            _ => String::new(),
        };
        t.push_str(&format!(
            "<tr><td>{}</td><td>{}–{}</td><td class=\"status\">{}{}</td></tr>",
            r.refill,
            esc(&r.from),
            esc(&r.to),
            esc(&r.status),
            who
        ));
    }
    t.push_str("</table>");
    t
}

fn summary(d: &Details) -> String {
    format!(
        "<dl><dt>就醫識別碼 Visit code</dt><dd id=\"visit-code\">{}</dd>\
         <dt>院所 Institution</dt><dd>{}</dd><dt>病人 Patient</dt><dd id=\"patient\">{} {}</dd>\
         <dt>開立日 Issued</dt><dd>{}</dd><dt>慢性病連續處方箋 Chronic</dt><dd>{}</dd>\
         <dt>異常狀況聯絡窗口 Contact</dt><dd id=\"contact\">{}</dd></dl>",
        esc(&d.visit_code),
        esc(&d.institution),
        esc(&d.patient_name),
        esc(&d.patient_id_masked),
        esc(&d.issued_on),
        if d.chronic { "是 yes" } else { "否 no" },
        esc(&d.contact)
    )
}

/// Details with the "dispense complete" button when a dispense is due.
pub fn details(d: &Details, query: &str, csrf: &str) -> String {
    let action = match d.due_refill {
        Some(n) => format!(
            "<form method=\"post\" action=\"/pharmacy/dispense\"><input type=\"hidden\" name=\"query\" value=\"{}\">{}\
             <p>確認院內有處方藥品後 After checking stock: <button id=\"dispense\" type=\"submit\">\
             調劑完成 Dispense complete (refill {n})</button></p></form>",
            esc(query),
            csrf_field(csrf)
        ),
        None => "<p id=\"not-due\" class=\"refused\">目前無可調劑 Nothing to dispense now</p>".into(),
    };
    page(
        "處方明細 Prescription details",
        &format!(
            "{}{}{}{action}<p><a href=\"/pharmacy\">返回 Back</a></p>",
            summary(d),
            lines_table(d),
            refills_table(d)
        ),
    )
}

/// The result of a dispense.
pub fn dispensed(r: &Receipt, csrf: &str) -> String {
    page(
        "調劑完成 Dispensed",
        &format!(
            "<p id=\"result\" data-status=\"ok\" class=\"ok\">調劑完成，該筆處方箋立即失效。\
             Dispensed: the prescription is now invalid.</p>\
             <p>收據 Receipt <span id=\"receipt\">{}</span> — refill {} — {} {}</p>\
             <p><a id=\"print\" href=\"/pharmacy/print/{}/{}\">預覽處方箋 Print view</a> · \
             <a href=\"/pharmacy\">下一位 Next</a></p>{}",
            esc(&r.receipt_no),
            r.refill,
            esc(&r.pharmacy),
            esc(&r.dispensed_at),
            esc(&r.visit_code),
            r.refill,
            restore_form(&r.visit_code, r.refill, csrf)
        ),
    )
}

/// The abnormal-case restore form (處方箋異常處理 — 恢復): a reason is required and audited.
fn restore_form(visit_code: &str, refill: u8, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/pharmacy/restore\"><fieldset><legend>處方箋異常處理 Abnormal case</legend>{}\
         <input type=\"hidden\" name=\"visit_code\" value=\"{}\"><input type=\"hidden\" name=\"refill\" value=\"{refill}\">\
         <label>原因 Reason <input id=\"restore-reason\" name=\"reason\" required></label> \
         <button id=\"restore\" type=\"submit\">恢復 Restore</button></fieldset></form>",
        csrf_field(csrf),
        esc(visit_code)
    )
}

/// A refusal, with its stable code and who/when when already dispensed.
pub fn refused(e: &PharmacyError, csrf: &str) -> String {
    page(
        "無法調劑 Refused",
        &format!(
            "<p id=\"result\" data-status=\"refused\" class=\"refused\">\
             <span id=\"error-code\">{}</span>: <span id=\"error-message\">{}</span></p>{}<p><a href=\"/pharmacy\">返回 Back</a></p>",
            esc(e.code()),
            esc(&e.to_string()),
            search_form(csrf)
        ),
    )
}

/// The print view (the pharmacy's own copy).
pub fn print(d: &Details, refill: u8, csrf: &str) -> String {
    page(
        "處方箋（藥局留存聯）Prescription — pharmacy copy",
        &format!(
            "{}{}{}<p>第 {refill} 次調劑 Dispense {refill}</p>\
             <p><strong>本處方箋僅供院所留存使用</strong> — this copy is for the pharmacy's records only; \
             the patient must bring the QR code or the one-time code.</p><p>藥師簽章 Stamp: ____________</p>\
             <p class=\"noprint\"><a href=\"/pharmacy\">返回 Back</a></p>{}",
            summary(d),
            lines_table(d),
            refills_table(d),
            restore_form(&d.visit_code, refill, csrf)
        ),
    )
}

/// The restore result.
pub fn restored(visit_code: &str, refill: u8) -> String {
    page(
        "恢復 Restored",
        &format!(
            "<p id=\"result\" data-status=\"ok\">處方箋異常處理：已恢復 Refill {refill} of {} restored (audited).</p>\
             <p><a href=\"/pharmacy\">返回 Back</a></p>",
            esc(visit_code)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert!(login(Some("<b>")).contains("&lt;b&gt;"));
    }
}
