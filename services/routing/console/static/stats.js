/* Bảng điều hành: statistics (globals from console.js). */
"use strict";

// --- statistics ------------------------------------------------------------------------------

function genericTables(value) {
  // Render whatever SLA answers: lists of objects become tables, scalars a fact list.
  if (Array.isArray(value)) {
    if (!value.length) return '<p class="muted">Không có dữ liệu.</p>';
    if (typeof value[0] !== "object") return esc(value.join(", "));
    const keys = [...new Set(value.flatMap((r) => Object.keys(r)))];
    return table(keys, value.map((r) => `<tr>${keys.map((k) => `<td>${typeof r[k] === "object" && r[k] !== null ? esc(JSON.stringify(r[k])) : esc(r[k])}</td>`).join("")}</tr>`));
  }
  if (value && typeof value === "object") {
    const facts = [];
    const nested = [];
    for (const [k, v] of Object.entries(value)) {
      if (v && typeof v === "object") nested.push(`<h3>${esc(k)}</h3>${genericTables(v)}`);
      else facts.push(`<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`);
    }
    return `${facts.length ? `<dl class="facts">${facts.join("")}</dl>` : ""}${nested.join("")}`;
  }
  return esc(value);
}

function barChart(items, label, value, max = 100, suffix = "%") {
  const width = Math.max(items.length * 84 + 40, 240);
  const height = 180;
  const bars = items.map((it, i) => {
    const v = value(it);
    const h = v === null ? 0 : (v / max) * 120;
    const colour = v === null ? "#b0bec5" : v >= 95 ? "#2e7d32" : v >= 80 ? "#f9a825" : "#c62828";
    return `<g transform="translate(${30 + i * 84},0)">
      <rect x="16" y="${140 - h}" width="44" height="${h}" fill="${colour}"><title>${esc(label(it))}: ${v === null ? "—" : v.toFixed(1) + suffix}</title></rect>
      <text x="38" y="${134 - h}" text-anchor="middle">${v === null ? "—" : Math.round(v) + suffix}</text>
      <text x="38" y="156" text-anchor="middle" font-size="10">${esc(String(label(it)).slice(-14))}</text></g>`;
  });
  return `<div class="chart-wrap"><svg width="${width}" height="${height}" role="img">
    <line x1="30" y1="140" x2="${width}" y2="140" stroke="#90a4ae"/>${bars.join("")}</svg></div>`;
}

// Citizens' satisfaction ratings (count, average 1–5 per criterion), from SLA's reports.
const RATINGS = [
  ["ratings", "Số lượt đánh giá hài lòng"], ["rating_timeliness", "Điểm thời gian giải quyết (1–5)"],
  ["rating_attitude", "Điểm thái độ phục vụ (1–5)"], ["rating_clarity", "Điểm hướng dẫn rõ ràng (1–5)"],
  ["rating_outcome", "Điểm kết quả giải quyết (1–5)"],
];
const REPORT = [
  ["carried_over", "Kỳ trước chuyển sang"], ["received", "Tiếp nhận mới"], ["to_handle", "Phải giải quyết"],
  ["resolved", "Đã giải quyết"], ["resolved_early", "— trước hạn"], ["resolved_on_time", "— đúng hạn"],
  ["resolved_late", "— trễ hạn"], ["in_progress", "Đang giải quyết"], ["in_progress_on_time", "— trong hạn"],
  ["in_progress_overdue", "— quá hạn"], ["due_within_24h", "Đến hạn trong 24 giờ"],
  ["waiting_for_supplement", "Chờ bổ sung"], ["stopped", "Dừng xử lý"], ["refused", "Không tiếp nhận"],
  ["withdrawn", "Rút hồ sơ"], ["returned", "Đã trả kết quả"], ["on_time_rate", "Tỷ lệ đúng hạn (%)"],
  ...RATINGS,
];
const CHANNEL = { in_person: "Trực tiếp", online: "Trực tuyến", post: "Bưu chính" };

function rateOf(r) {
  if (!r || r.on_time_rate === null || r.on_time_rate === undefined) return null;
  const v = Number(r.on_time_rate);
  return Number.isNaN(v) ? null : v;
}

function reportTable(rows, key, keyLabel, id) {
  const cols = ["received", "to_handle", "resolved", "resolved_early", "resolved_on_time", "resolved_late", "in_progress_overdue", "on_time_rate"];
  const label = Object.fromEntries(REPORT);
  return table([keyLabel, ...cols.map((c) => ({ label: label[c], num: true }))], rows.map((r) =>
    `<tr><td>${esc(r[key])}</td>${cols.map((c) => `<td class="num">${esc(r[c] ?? "—")}</td>`).join("")}</tr>`), `id="${id}"`);
}

function ratingTable(rows, key, keyLabel, id) {
  const rated = rows.filter((r) => r.ratings);
  if (!rated.length) return `<p class="muted" id="${id}">Chưa có đánh giá mức độ hài lòng.</p>`;
  return `<h3>Mức độ hài lòng của người dân</h3>` + table([keyLabel, ...RATINGS.map(([, l]) => ({ label: l, num: true }))], rated.map((r) =>
    `<tr><td>${esc(r[key])}</td>${RATINGS.map(([c]) => `<td class="num">${esc(r[c] ?? "—")}</td>`).join("")}</tr>`), `id="${id}"`);
}

async function viewStats() {
  const data = await api("/console/api/stats");
  let sla;
  if (data.sla) {
    const t = data.sla.total;
    const facts = REPORT.map(([k, l]) => `<tr><td>${esc(l)}</td><td class="num">${esc(t[k] ?? "—")}</td></tr>`);
    const channels = Object.entries(t.received_by_channel || {}).map(([k, v]) => `<tr><td>— ${esc(CHANNEL[k] || k)}</td><td class="num">${esc(v)}</td></tr>`);
    facts.splice(2, 0, ...channels);
    sla = `<div class="card" id="sla-report"><h1>Báo cáo giải quyết hồ sơ</h1>
      <p class="muted">Từ ${fmtTime(data.sla.from)} đến ${fmtTime(data.sla.to)}${t.unit ? ` · đơn vị ${esc(t.unit)}` : " · toàn tỉnh"} (theo dịch vụ SLA).</p>
      <div class="grid"><div>${table(["Chỉ tiêu", { label: "Số hồ sơ", num: true }], facts, 'id="sla-total"')}</div>
      <div><h2>Tỷ lệ đúng hạn theo tháng</h2>${barChart(data.sla.by_month, (r) => r.period, rateOf)}</div></div></div>
    <div class="grid">
      <div class="card"><h2>Theo đơn vị tiếp nhận</h2>${barChart(data.sla.by_unit, (r) => r.unit_code, rateOf)}
        ${reportTable(data.sla.by_unit, "unit_name", "Đơn vị", "sla-by-unit")}
        ${ratingTable(data.sla.by_unit, "unit_name", "Đơn vị", "ratings-by-unit")}</div>
      <div class="card"><h2>Theo lĩnh vực</h2>${barChart(data.sla.by_field, (r) => r.field_code, rateOf)}
        ${reportTable(data.sla.by_field, "field_name", "Lĩnh vực", "sla-by-field")}
        ${ratingTable(data.sla.by_field, "field_name", "Lĩnh vực", "ratings-by-field")}</div>
    </div>`;
  } else {
    sla = `<div class="card"><h2>Báo cáo SLA</h2><p class="notice" id="sla-report-missing">Báo cáo của dịch vụ SLA chưa sẵn sàng (${esc(data.sla_error)}). Các số liệu dưới đây tính từ hộp hồ sơ của các đơn vị.</p></div>`;
  }
  const rate = (done, onTime) => (done ? (onTime / done) * 100 : null);
  const rows = data.steps_by_unit.map((u) => `<tr><td>${esc(u.unit_code)}</td>
    <td class="num">${u.in_progress}</td><td class="num">${u.overdue}</td><td class="num">${u.due_24h}</td>
    <td class="num">${u.done}</td><td class="num">${u.done_on_time}</td>
    <td class="num">${rate(u.done, u.done_on_time) === null ? "—" : rate(u.done, u.done_on_time).toFixed(1) + " %"}</td></tr>`);
  setView(`${sla}
    <div class="card"><h2>Bước xử lý theo đơn vị (hộp hồ sơ)</h2>
      ${barChart(data.steps_by_unit, (u) => u.unit_code, (u) => rate(u.done, u.done_on_time))}
      ${table(["Đơn vị", { label: "Đang xử lý", num: true }, { label: "Quá hạn", num: true }, { label: "Đến hạn trong 24 giờ", num: true },
        { label: "Đã xong", num: true }, { label: "Xong đúng hạn", num: true }, { label: "Tỷ lệ đúng hạn", num: true }], rows, 'id="stats-table"')}</div>`);
}
