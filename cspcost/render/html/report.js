// cspcost report: draws the embedded plotly figures and links them. A selection is (model, path):
// a layer, or a block whose layers are all under that path; every view shows it.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("cspcost-data").textContent);
  const CONFIG = { responsive: true, displaylogo: false, scrollZoom: false };
  const state = { model: 0, sel: null, metric: "flops", sortKey: null, sortDesc: true };
  const $ = (id) => document.getElementById(id);
  const layersFig = DATA.figures.layers;
  const baseShapes = (layersFig.layout.shapes || []).slice();

  // Numbers as the CSV has them, made readable: integers with separators, floats to 4 digits.
  function cell(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toPrecision(4);
    return String(v);
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }
  function under(name, path) {
    return path !== null && (name === path || name.startsWith(path + "."));
  }
  function metricValue(model, row, metric) {
    const c = model.columns;
    if (metric === "bytes") return (c.bytes_read[row] || 0) + (c.bytes_written[row] || 0);
    return (c[metric] || [])[row] || 0;
  }

  // ---- per-layer bars: hover texts come from the data, not from a copy in every trace
  function drawLayers() {
    for (const trace of layersFig.data) {
      if (trace.meta && trace.customdata) {
        const hover = DATA.models[trace.meta.model].hover;
        trace.hovertext = trace.customdata.map((r) => hover[r]);
      }
    }
    Plotly.newPlot("fig-layers", layersFig.data, layersFig.layout, CONFIG);
    $("fig-layers").on("plotly_click", (ev) => {
      const p = ev.points[0];
      if (p && p.data.meta) select(p.data.meta.model, DATA.models[p.data.meta.model].columns.name[p.customdata], "bars");
    });
  }
  function markBars() {
    const gd = $("fig-layers");
    const widths = [], indices = [], shapes = baseShapes.slice();
    gd.data.forEach((trace, k) => {
      if (!trace.meta || trace.type !== "bar") return;
      const m = trace.meta.model, names = DATA.models[m].columns.name;
      const on = trace.customdata.map((r) => state.sel && state.sel.model === m && under(names[r], state.sel.path));
      widths.push(on.map((v) => (v ? 2 : 0)));
      indices.push(k);
      if (trace.meta.metric === "flops") {
        const xs = trace.x.filter((x, i) => on[i]);
        if (xs.length) {
          const half = Math.max(...trace.width) / 2;
          shapes.push({ type: "rect", xref: "x", yref: "paper", x0: Math.min(...xs) - half, x1: Math.max(...xs) + half,
                        y0: 0, y1: 1, fillcolor: "rgba(255,190,0,0.25)", line: { color: "#e0a000", width: 1 }, layer: "below" });
        }
      }
    });
    Plotly.restyle(gd, { "marker.line.width": widths }, indices);
    Plotly.relayout(gd, { shapes: shapes });
  }

  // ---- module tree
  function treeValues(m) {
    const model = DATA.models[m];
    return DATA.figures.tree[m].data[0].customdata.map((r) => (r >= 0 ? metricValue(model, r, state.metric) : 0));
  }
  function drawTree() {
    const fig = DATA.figures.tree[state.model];
    const values = treeValues(state.model);
    fig.data[0].values = values;
    Plotly.newPlot("fig-tree", fig.data, fig.layout, CONFIG);
    $("fig-tree").on("plotly_click", (ev) => {
      const p = ev.points[0];
      if (p) select(state.model, p.id === DATA.root ? null : p.id, "tree");
    });
  }
  function markTree(from) {
    if (from === "tree") return;
    const tree = DATA.figures.tree[state.model].data[0];
    const sel = state.sel && state.sel.model === state.model ? state.sel.path : null;
    let level = DATA.root;
    if (sel !== null) {
      const k = tree.ids.indexOf(sel);
      const leaf = k >= 0 && !tree.parents.includes(sel);
      if (k >= 0) level = leaf ? tree.parents[k] : sel;
    }
    const widths = tree.ids.map((id) => (sel !== null && id === sel ? 4 : 0.5));
    const colors = tree.ids.map((id) => (sel !== null && id === sel ? "#e0a000" : "#fff"));
    Plotly.restyle("fig-tree", { level: [level], "marker.line.width": [widths], "marker.line.color": [colors] });
  }

  // ---- CSP blocks
  function drawCsp() {
    const model = DATA.models[state.model];
    const fig = DATA.figures.csp[state.model];
    $("csp-empty").hidden = !!fig;
    $("fig-csp").hidden = !fig;
    if (fig) {
      Plotly.newPlot("fig-csp", fig.data, fig.layout, CONFIG);
      $("fig-csp").on("plotly_click", (ev) => ev.points[0] && select(state.model, ev.points[0].customdata, "csp"));
    } else {
      Plotly.purge("fig-csp");
    }
    const head = ["#", "block", "parent", "pattern", "gamma", "m", "fusion", "FLOPs", "params", "CIO",
                  "FLOPs share", "params share", "CIO share", "part 2 FLOPs"];
    const rows = model.csp.map((b, k) =>
      `<tr data-path="${esc(b.name)}"><td class="num">${k + 1}</td><td>${esc(b.name)}</td><td>${esc(b.parent || "–")}</td>` +
      `<td>${esc(b.pattern)}</td><td>${esc(b.gamma_fraction)}</td><td class="num">${b.part2_depth}</td>` +
      `<td>${esc(b.fusion)}</td><td class="num">${cell(b.flops)}</td><td class="num">${cell(b.params)}</td>` +
      `<td class="num">${cell(b.cio_elems)}</td>` +
      ["flops_share", "params_share", "cio_elems_share"].map((s) => `<td class="num">${(100 * b[s]).toFixed(2)}%</td>`).join("") +
      `<td class="num">${b.flops ? ((100 * b.roles.part2.flops) / b.flops).toFixed(1) : "–"}%</td></tr>`);
    $("csp-table").innerHTML = model.csp.length
      ? `<thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody>` : "";
  }
  function markCsp() {
    const sel = state.sel && state.sel.model === state.model ? state.sel.path : null;
    for (const tr of $("csp-table").querySelectorAll("tbody tr")) {
      const block = tr.dataset.path;
      tr.classList.toggle("sel", sel !== null && (under(sel, block) || under(block, sel)));
    }
  }

  // ---- the layer table: the --format csv columns, sortable and filterable
  function columns(model) {
    return Object.keys(model.columns);
  }
  function drawTable() {
    const model = DATA.models[state.model];
    const cols = columns(model);
    const head = cols.map((c) => {
      const cls = c === state.sortKey ? (state.sortDesc ? "sorted-desc" : "sorted-asc") : "";
      return `<th data-key="${esc(c)}" class="${cls}">${esc(c)}</th>`;
    });
    const f = state.filter ? state.filter.toLowerCase() : "";
    const stage = $("stage").value;
    let rows = model.columns.name.map((_, r) => r);
    rows = rows.filter((r) => {
      const c = model.columns;
      if (stage && c.stage[r] !== stage) return false;
      if (!f) return true;
      return [c.name[r], c.type[r], c.stage[r], c.role ? c.role[r] : ""].some((v) => String(v).toLowerCase().includes(f));
    });
    if (state.sortKey) {
      const v = model.columns[state.sortKey], dir = state.sortDesc ? -1 : 1;
      rows.sort((a, b) => {
        const x = v[a], y = v[b];
        if (x === y) return a - b;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    const body = rows.map((r) => `<tr data-row="${r}">` + cols.map((c) => {
      const v = model.columns[c][r];
      return `<td${typeof v === "number" ? ' class="num"' : ""}>${esc(cell(v))}</td>`;
    }).join("") + "</tr>");
    $("layer-table").innerHTML = `<thead><tr>${head.join("")}</tr></thead><tbody>${body.join("")}</tbody>`;
    $("count").textContent = `${rows.length} of ${model.columns.name.length} rows.`;
    markTable(null);
  }
  function markTable(from) {
    const model = DATA.models[state.model];
    const sel = state.sel && state.sel.model === state.model ? state.sel.path : null;
    let first = null;
    for (const tr of $("layer-table").querySelectorAll("tbody tr")) {
      const on = sel !== null && under(model.columns.name[+tr.dataset.row], sel);
      tr.classList.toggle("sel", on);
      if (on && !first) first = tr;
    }
    if (first && from && from !== "table") first.scrollIntoView({ block: "nearest" });
  }

  // ---- selection, linking every view
  function select(m, path, from) {
    state.sel = path === null ? null : { model: m, path: path };
    if (m !== state.model) {
      state.model = m;
      $("model").value = String(m);
      drawModel();
    }
    $("selection").textContent = path === null ? "nothing selected" : describe(DATA.models[m], path);
    markBars();
    markTree(from);
    markCsp();
    markTable(from);
  }
  // The status line: a layer's own numbers, or a block's sums over the layers under it.
  function describe(model, path) {
    const c = model.columns, k = c.name.indexOf(path);
    const rows = c.name.map((n, r) => r).filter((r) => under(c.name[r], path));
    const sum = (key) => rows.reduce((t, r) => t + (c[key][r] || 0), 0);
    const what = rows.length === 1 && k >= 0 ? c.type[k] : `${rows.length} layers`;
    return `${model.label} · ${path} · ${what} · FLOPs ${cell(sum("flops"))} · params ${cell(sum("params"))}` +
      ` · CIO ${cell(sum("cio_elems"))}`;
  }
  function drawModel() {
    drawTree();
    drawCsp();
    const stages = [...new Set(DATA.models[state.model].columns.stage)];
    $("stage").innerHTML = `<option value="">all stages</option>` + stages.map((s) => `<option>${esc(s)}</option>`).join("");
    drawTable();
  }

  function wire() {
    $("model").innerHTML = DATA.models.map((m, i) => `<option value="${i}">${esc(m.label)}</option>`).join("");
    $("model").addEventListener("change", () => { state.model = +$("model").value; drawModel(); select(state.model, null, "menu"); });
    $("metric").innerHTML = Object.entries(DATA.metrics).map(([k, v]) => `<option value="${k}">${esc(v)}</option>`).join("");
    $("metric").addEventListener("change", () => {
      state.metric = $("metric").value;
      const values = treeValues(state.model);
      Plotly.restyle("fig-tree", { values: [values] });
    });
    $("filter").addEventListener("input", () => { state.filter = $("filter").value; drawTable(); });
    $("stage").addEventListener("change", drawTable);
    $("clear").addEventListener("click", () => select(state.model, null, "menu"));
    $("layer-table").addEventListener("click", (ev) => {
      const th = ev.target.closest("th");
      if (th) {
        const key = th.dataset.key;
        const numeric = typeof DATA.models[state.model].columns[key].find((v) => v !== null) === "number";
        state.sortDesc = key === state.sortKey ? !state.sortDesc : numeric;
        state.sortKey = key;
        drawTable();
        return;
      }
      const tr = ev.target.closest("tbody tr");
      if (tr) select(state.model, DATA.models[state.model].columns.name[+tr.dataset.row], "table");
    });
    $("csp-table").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tbody tr");
      if (tr) select(state.model, tr.dataset.path, "csp");
    });
  }

  wire();
  drawLayers();
  drawModel();
  document.body.dataset.ready = "1";  // for tests and scripts: every view is drawn
})();
