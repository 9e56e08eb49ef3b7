/* Bảng điều hành: system health (globals from console.js). */
"use strict";

// --- system health ---------------------------------------------------------------------------

// The business gauges in Vietnamese (services/runtime/metrics.py), with their labels.
const HEALTH_METRIC = {
  inbox_size: "Bước trong hộp hồ sơ", deadlines: "Thời hạn", notifications: "Thông báo cho công dân",
  dead_letters_pending: "Thư lỗi chờ xử lý",
};
const HEALTH_LABEL = {
  unit: "đơn vị", status: "trạng thái", kind: "loại", state: "tình trạng", provider: "nhà cung cấp",
  consumer: "consumer", topic: "topic",
};
const HEALTH_STATE = { open: "đang tính", due_soon: "sắp đến hạn", overdue: "quá hạn", paused: "tạm dừng", dossier: "cả hồ sơ", step: "bước" };
function healthValue(key, value) {
  if (key === "unit") return unitName(value);
  if (key === "status") return TASK_STATUS[value] || MESSAGE_STATUS[value] || value;
  return HEALTH_STATE[value] || value;
}

async function viewHealth() {
  const data = await api("/console/api/health");
  const cards = data.services.map((s) => {
    if (s.error) return `<div class="card"><h2>${esc(s.service)}</h2><p class="status-bad">${esc(s.error)}</p></div>`;
    const pick = (name) => s.metrics.filter((m) => m.name === name);
    const one = (name) => (pick(name)[0] || { value: 0 }).value;
    const ready = s.ready && s.ready.status === "ready";
    const groups = {};
    pick("consumer_lag").forEach((m) => {
      const key = `${m.labels.consumer}|${m.labels.topic}`;
      const g = groups[key] || (groups[key] = { consumer: m.labels.consumer, topic: m.labels.topic, parts: 0, total: 0, behind: [] });
      g.parts += 1;
      g.total += m.value;
      if (m.value > 0) g.behind.push(`${m.labels.partition}: ${m.value}`);
    });
    const lag = Object.values(groups).map((g) => `<tr><td>${esc(g.consumer)}</td><td>${esc(g.topic)}</td>
      <td class="num">${g.parts}</td><td class="num lag-total">${g.total}</td><td>${esc(g.behind.join(", ") || "—")}</td></tr>`);
    const business = ["inbox_size", "deadlines", "notifications", "dead_letters_pending"].flatMap((n) => pick(n))
      .filter((m) => m.value > 0).map((m) => `<tr><td>${esc(HEALTH_METRIC[m.name] || m.name)}</td><td>${esc(Object.entries(m.labels).map(([k, v]) => `${HEALTH_LABEL[k] || k}: ${healthValue(k, v)}`).join(", "))}</td><td class="num">${m.value}</td></tr>`);
    const letters = s.dead_letters.map((d) => `<tr data-letter="${d.id}"><td>${d.id}</td><td>${esc(d.consumer)}</td>
      <td>${esc(d.topic)}/${d.partition}@${d.offset}</td><td>${esc(String(d.error).slice(0, 160))}</td><td>${fmtTime(d.recorded_at)}</td>
      <td>${d.replayed_at ? `Đã phát lại ${fmtTime(d.replayed_at)}` : `<button type="button" class="replay" data-service="${esc(s.service)}" data-id="${d.id}">Phát lại</button>`}</td></tr>`);
    return `<div class="card" data-service="${esc(s.service)}"><h2>${esc(s.service)}
      <span class="${ready ? "status-ok" : "status-bad"}">${ready ? "sẵn sàng" : "chưa sẵn sàng"}</span></h2>
      <dl class="facts"><dt>Outbox tồn</dt><dd class="outbox-backlog">${one("outbox_backlog")}</dd>
      <dt>Bản ghi outbox cũ nhất</dt><dd>${one("outbox_oldest_age_seconds").toFixed(1)} giây</dd></dl>
      <h3>Độ trễ consumer (bản ghi chưa xử lý)</h3>${table(["Nhóm", "Topic", { label: "Số phân vùng", num: true }, { label: "Tổng độ trễ", num: true }, "Phân vùng bị trễ"], lag)}
      <h3>Chỉ số nghiệp vụ</h3>${table(["Chỉ số", "Nhãn", { label: "Giá trị", num: true }], business)}
      <h3>Thư lỗi (dead letters)</h3>${table(["#", "Consumer", "Bản ghi", "Lỗi", "Lúc", ""], letters)}</div>`;
  });
  const view = setView(`<div class="card"><h1>Tình trạng hệ thống</h1><p class="muted">Cập nhật ${fmtTime(data.at)}</p>
    <button type="button" class="secondary" id="refresh">Làm mới</button></div><div class="health-grid">${cards.join("")}</div>`);
  $("#refresh", view).onclick = () => render();
  view.querySelectorAll("button.replay").forEach((b) => {
    b.onclick = async () => {
      b.disabled = true;
      try {
        await api(`/console/api/dead-letters/${b.dataset.service}/${b.dataset.id}/replay`, { method: "POST" });
        toast("Đã phát lại bản ghi.");
      } catch (err) { toast(`Không phát lại được: ${err.message}`); }
      await render();
    };
  });
}
