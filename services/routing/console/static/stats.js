/* Bảng điều hành: statistics (globals from console.js). */
"use strict";

// --- statistics ------------------------------------------------------------------------------

function fmtNumber(v) {
  if (v === null || v === undefined || v === "") return "—";
  const n = Number(v);
  return Number.isNaN(n) ? esc(v) : n.toLocaleString("vi-VN", { maximumFractionDigits: 2 });
}

function svgText(x, y, text, attrs = "") {
  return `<text x="${x}" y="${y}" ${attrs}>${esc(text)}</text>`;
}

function shortName(name, max = 20) {
  // The usual abbreviation of a people's committee; the full name stays in the tooltip.
  const s = String(name ?? "").replace(/^Ủy ban nhân dân /, "UBND ");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// A bar chart in plain SVG: y axis with ticks and its title, x axis with the names, a
// legend, and a title and description for screen readers. ``series``: [{key, label,
// css}] (bars side by side) or one series coloured by ``band`` (rate charts).
let chartSeq = 0;
function barChart({ title, items, name, series, yTitle, xTitle, max, band, legend, suffix = "" }) {
  chartSeq += 1;
  const id = `chart-${chartSeq}`;
  const values = items.flatMap((it) => series.map((s) => s.value(it))).filter((v) => v !== null);
  const top = max ?? Math.max(4, ...values);
  const niceTop = max ?? Math.ceil(top / 4) * 4;
  // Room on the left for the y axis and for the first slanted name below the x axis.
  const left = 110, right = 16, plotTop = 14, plotH = 170, bottom = 96;
  const group = Math.max(56, series.length * 22 + 18);
  const width = left + right + Math.max(items.length, 1) * group;
  const height = plotTop + plotH + bottom;
  const y = (v) => plotTop + plotH - (v / niceTop) * plotH;
  const ticks = [0, 1, 2, 3, 4].map((i) => (niceTop * i) / 4);
  const grid = ticks.map((t) => `<line class="grid-line" x1="${left}" x2="${width - right}" y1="${y(t)}" y2="${y(t)}"/>
    ${svgText(left - 6, y(t) + 4, `${fmtNumber(t)}${suffix}`, 'text-anchor="end"')}`).join("");
  const barW = Math.min(36, (group - 14) / series.length);
  const bars = items.map((it, i) => {
    const x0 = left + i * group + (group - barW * series.length) / 2;
    const cells = series.map((s, j) => {
      const v = s.value(it);
      const css = band ? band(v) : s.css;
      const h = v === null ? 0 : (v / niceTop) * plotH;
      const x = x0 + j * barW;
      const shown = v === null ? "không có số liệu" : `${fmtNumber(v)}${suffix}`;
      return `<rect class="bar-${css}" x="${x + 2}" y="${y(0) - h}" width="${barW - 4}" height="${Math.max(h, 0)}">
          <title>${esc(name(it))} · ${esc(s.label)}: ${esc(shown)}</title></rect>
        ${series.length === 1 ? svgText(x + barW / 2, y(0) - h - 4, v === null ? "—" : `${fmtNumber(v)}${suffix}`, 'text-anchor="middle"') : ""}`;
    }).join("");
    const cx = left + i * group + group / 2;
    return `${cells}<text transform="translate(${cx},${y(0) + 14}) rotate(-30)" text-anchor="end"><title>${esc(name(it))}</title>${esc(shortName(name(it)))}</text>`;
  }).join("");
  const desc = items.map((it) => `${name(it)}: ${series.map((s) => `${s.label} ${s.value(it) === null ? "không có số liệu" : fmtNumber(s.value(it)) + suffix}`).join(", ")}`).join("; ");
  const legendItems = legend || series.map((s) => ({ css: s.css, label: s.label }));
  return `<figure class="chart-wrap">
    <svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${id}-t ${id}-d">
      <title id="${id}-t">${esc(title)}</title><desc id="${id}-d">${esc(desc || "Không có dữ liệu.")}</desc>
      ${grid}
      <g class="axis"><line x1="${left}" x2="${left}" y1="${plotTop}" y2="${y(0)}"/><line x1="${left}" x2="${width - right}" y1="${y(0)}" y2="${y(0)}"/></g>
      ${bars}
      <text class="axis-title" transform="translate(${left - 52},${plotTop + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(yTitle)}</text>
      ${svgText(left + (width - left - right) / 2, height - 6, xTitle, 'class="axis-title" text-anchor="middle"')}
    </svg>
    <figcaption class="chart-legend"><strong>${esc(title)}</strong>${legendItems.map((l) => `<span><span class="swatch ${l.css}" aria-hidden="true"></span>${esc(l.label)}</span>`).join("")}</figcaption>
  </figure>`;
}

const RATE_LEGEND = [
  { css: "good", label: "Từ 95% trở lên" }, { css: "fair", label: "Từ 80% đến dưới 95%" },
  { css: "poor", label: "Dưới 80%" }, { css: "none", label: "Chưa có hồ sơ giải quyết" },
];
const rateBand = (v) => (v === null ? "none" : v >= 95 ? "good" : v >= 80 ? "fair" : "poor");

function rateOf(r) {
  if (!r || r.on_time_rate === null || r.on_time_rate === undefined) return null;
  const v = Number(r.on_time_rate);
  return Number.isNaN(v) ? null : v;
}

function rateChart(title, items, name, xTitle) {
  return barChart({
    title, items, name, xTitle, yTitle: "Tỷ lệ đúng hạn (%)", max: 100, suffix: "%",
    series: [{ label: "Tỷ lệ đúng hạn", value: rateOf }], band: rateBand, legend: RATE_LEGEND,
  });
}

function statTable(t) {
  const head = t.columns.map((c) => `<th scope="col"${c.num ? ' class="num"' : ""}>${esc(c.label)}</th>`).join("");
  const rows = t.rows.map((r) => `<tr>${r.map((v, i) => (t.columns[i].num
    ? `<td class="num">${fmtNumber(v)}</td>` : `<td>${esc(v ?? "—")}</td>`)).join("")}</tr>`).join("");
  const empty = `<tr><td colspan="${t.columns.length}" class="muted">Không có dữ liệu trong kỳ này.</td></tr>`;
  // The visible text starts the accessible name; the table's title completes it.
  const exports = ["csv", "xlsx"].map((f) => `<button type="button" class="secondary export" data-table="${esc(t.id)}"
      data-format="${f}">Tải ${f === "csv" ? "CSV" : "Excel (.xlsx)"}<span class="sr-only"> bảng ${esc(t.title)}</span></button>`).join("");
  return `<table id="${esc(t.id)}"><caption class="sr-only">${esc(t.title)}</caption><thead><tr>${head}</tr></thead><tbody>${rows || empty}</tbody></table>
    <div class="exports" role="group" aria-label="Xuất bảng ${esc(t.title)}">${exports}</div>`;
}

function periodForm(first, last, error = "") {
  return `<form class="period" id="stats-period">
      <div><label for="stats-from">Từ ngày</label><input type="date" id="stats-from" name="from" required value="${esc(first)}"></div>
      <div><label for="stats-to">Đến ngày</label><input type="date" id="stats-to" name="to" required value="${esc(last)}"></div>
      <button type="submit" id="stats-apply">Xem thống kê</button>
    </form>${error ? `<p class="notice" role="alert" id="view-error">Không xem được thống kê: ${esc(error)}.</p>` : ""}`;
}

function onPeriod(view) {
  $("#stats-period", view).onsubmit = (e) => {
    e.preventDefault();
    const q = new URLSearchParams({ from: $("#stats-from", view).value, to: $("#stats-to", view).value });
    location.hash = `#/stats?${q}`;
  };
}

async function viewStats(params = new URLSearchParams()) {
  const query = new URLSearchParams();
  if (params.get("from")) query.set("from", params.get("from"));
  if (params.get("to")) query.set("to", params.get("to"));
  const qs = query.toString() ? `?${query}` : "";
  let data;
  try {
    data = await api(`/console/api/stats${qs}`);
  } catch (err) {
    if (err.status !== 422) throw err;
    // A period the server refuses: the form stays, with the reason, to be corrected.
    onPeriod(setView(`<div class="card"><h1>Thống kê giải quyết hồ sơ</h1>
      ${periodForm(params.get("from") || "", params.get("to") || "", err.message)}</div>`));
    return;
  }
  const tables = Object.fromEntries(data.tables.map((t) => [t.id, t]));
  const scope = data.unit_code ? `đơn vị ${esc(unitName(data.unit_code))}` : "toàn tỉnh";
  const endsNow = Math.abs(new Date(data.to) - new Date(data.now)) < 1000;
  const head = `<div class="card"><h1>Thống kê giải quyết hồ sơ</h1>
    ${periodForm(data.first_day, data.last_day)}
    <p class="muted" id="stats-period-text">Kỳ báo cáo: từ ${fmtTime(data.from)} đến ${fmtTime(data.to)}${endsNow ? " (thời điểm hiện tại)" : ""} · ${scope}.
      Hồ sơ quá hạn là hồ sơ đã qua thời điểm hết hạn (tính theo giờ làm việc của đơn vị) mà chưa giải quyết xong.</p></div>`;
  let sla;
  if (data.sla) {
    const s = data.sla;
    sla = `<div class="card" id="sla-report"><h2>Báo cáo giải quyết hồ sơ (dịch vụ SLA)</h2>
      <div class="grid"><div>${statTable(tables["sla-total"])}</div>
      <div>${rateChart("Tỷ lệ giải quyết đúng hạn theo tháng", s.by_month, (r) => `Tháng ${r.period_label}`, "Tháng")}
        <h3>Theo tháng</h3>${statTable(tables["sla-by-month"])}</div></div></div>
    <div class="card"><h2>Theo đơn vị tiếp nhận</h2>
      ${rateChart("Tỷ lệ giải quyết đúng hạn theo đơn vị", s.by_unit, (r) => r.unit_name, "Đơn vị tiếp nhận")}
      ${statTable(tables["sla-by-unit"])}
      <h3>Mức độ hài lòng của người dân theo đơn vị</h3>${statTable(tables["ratings-by-unit"])}</div>
    <div class="card"><h2>Theo lĩnh vực</h2>
      ${rateChart("Tỷ lệ giải quyết đúng hạn theo lĩnh vực", s.by_field, (r) => r.field_name, "Lĩnh vực")}
      ${statTable(tables["sla-by-field"])}
      <h3>Mức độ hài lòng của người dân theo lĩnh vực</h3>${statTable(tables["ratings-by-field"])}</div>`;
  } else {
    sla = `<div class="card"><h2>Báo cáo giải quyết hồ sơ</h2><p class="notice" id="sla-report-missing">Báo cáo của dịch vụ SLA chưa sẵn sàng (${esc(data.sla_error)}). Các số liệu dưới đây tính từ hộp hồ sơ của các đơn vị.</p></div>`;
  }
  const steps = data.steps_by_unit;
  const stepRate = (u) => (u.done ? (u.done_on_time / u.done) * 100 : null);
  const view = setView(`${head}${sla}
    <div class="card"><h2>Bước xử lý theo đơn vị (hiện tại)</h2>
      ${barChart({
        title: "Bước đang xử lý theo đơn vị", items: steps, name: (u) => unitName(u.unit_code),
        xTitle: "Đơn vị xử lý", yTitle: "Số bước",
        series: [
          { label: "Đang xử lý", css: "s1", value: (u) => u.in_progress },
          { label: "Quá hạn", css: "s2", value: (u) => u.overdue },
          { label: "Đến hạn trong 1 ngày làm việc", css: "s3", value: (u) => u.due_1_working_day },
        ],
      })}
      ${rateChart("Tỷ lệ bước xong đúng hạn theo đơn vị", steps.map((u) => ({ ...u, on_time_rate: stepRate(u) })), (u) => unitName(u.unit_code), "Đơn vị xử lý")}
      ${statTable(tables["stats-table"])}</div>`);
  onPeriod(view);
  view.querySelectorAll("button.export").forEach((b) => {
    b.onclick = async () => {
      const q = new URLSearchParams({ from: data.first_day, to: data.last_day });
      try {
        await downloadFile(`/console/api/stats/export/${encodeURIComponent(b.dataset.table)}.${b.dataset.format}?${q}`);
      } catch (err) { toast(err); }
    };
  });
}
