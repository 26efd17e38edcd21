/* divergent report: draws the comparison's figures and runs the archive
 * explorer from the JSON in #report-data (runs/report_page.py embeds this
 * script, Plotly and the data in one page; nothing is fetched). */
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
  const AREA = "#D55E00", WALL = "#1a1a1a", MUTED = "#b0b0b0", TRAJECTORY = "#d62728";
  const AREA_COLOURS = ["#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#0072B2", "#F0E442"];
  const FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 12, color: "#222" };
  const RUNS = {};
  DATA.runs.forEach(function (run) { RUNS[run.id] = run; });

  function drawFigures() {
    DATA.figures.forEach(function (f) {
      const el = document.getElementById(f.id);
      if (el) Plotly.newPlot(el, f.figure.data, f.figure.layout, CONFIG);
    });
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return Number(value.toFixed(digits === undefined ? 4 : digits)).toString();
    return String(value);
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function (kv) {
      if (kv[0] === "text") node.textContent = kv[1]; else node.setAttribute(kv[0], kv[1]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // The task's map: walls as one line trace, reward discs and their labels as shapes.
  function mapLayout(geo) {
    const shapes = geo.areas.map(function (a) {
      return { type: "circle", xref: "x", yref: "y", x0: a.x - a.r, x1: a.x + a.r, y0: a.y - a.r, y1: a.y + a.r,
        line: { color: AREA, width: 1.5 }, fillcolor: "rgba(213,94,0,0.13)", layer: "below" };
    });
    const up = geo.y_down ? -1 : 1;
    const annotations = geo.areas.map(function (a, i) {
      return { x: a.x, y: a.y + up * a.r, text: "<b>area " + i + "</b>", showarrow: false, yshift: 9,
        font: { color: AREA, size: 11 }, bgcolor: "rgba(255,255,255,0.75)" };
    });
    return {
      font: FONT, margin: { l: 50, r: 10, t: 10, b: 40 }, showlegend: true, hovermode: "closest",
      legend: { orientation: "h", y: -0.08, x: 0, font: { size: 11 } }, shapes: shapes, annotations: annotations,
      xaxis: { range: [geo.low[0], geo.high[0]], showgrid: false, zeroline: false, constrain: "domain",
        mirror: true, showline: true, linecolor: "#999" },
      yaxis: { range: geo.y_down ? [geo.high[1], geo.low[1]] : [geo.low[1], geo.high[1]], showgrid: false,
        zeroline: false, scaleanchor: "x", scaleratio: 1, constrain: "domain", mirror: true, showline: true,
        linecolor: "#999" },
      plot_bgcolor: "#fff", uirevision: "map", dragmode: "pan",
    };
  }

  function wallTrace(geo) {
    const x = [], y = [];
    geo.walls.forEach(function (w) { x.push(w[0], w[2], null); y.push(w[1], w[3], null); });
    return { type: "scatter", mode: "lines", x: x, y: y, line: { color: WALL, width: 2.5 }, hoverinfo: "skip",
      showlegend: false, name: "walls" };
  }

  function pointTrace(run, source, colourBy) {
    const s = run.sources[source];
    const idx = s.x.map(function (_, i) { return i; });
    const byGeneration = colourBy === "generation" && s.generation;
    const values = byGeneration ? s.generation : s.reward;
    const muted = idx.map(function (i) { return !byGeneration && s.reward[i] === 0 && s.area[i] < 0; });
    const reward = source === "reward archive";
    return {
      type: "scatter", mode: "markers", name: source + " (" + s.x.length + ")", x: s.x, y: s.y,
      customdata: idx.map(function (i) { return [source, i]; }),
      text: idx.map(function (i) {
        return "reward " + fmt(s.reward[i], 3) + (s.area[i] >= 0 ? " (area " + s.area[i] + ")" : "") +
          (s.generation ? "<br>generation " + s.generation[i] : "") +
          (s.replay[i] >= 0 ? "<br><i>click: trajectory and view</i>" : "<br><i>click: details</i>");
      }),
      hovertemplate: "%{text}<extra>" + source + "</extra>",
      marker: {
        symbol: reward ? "diamond" : "circle",
        size: idx.map(function (i) { return (s.replay[i] >= 0 ? 8 : 6) + (reward ? 2 : 0); }),
        color: idx.map(function (i) { return muted[i] ? MUTED : values[i]; }),
        colorscale: byGeneration ? "Cividis" : "Viridis", cmin: byGeneration ? undefined : 0,
        cmax: byGeneration ? undefined : 1,
        showscale: source === "archive",
        colorbar: { title: { text: byGeneration ? "generation" : "reward", side: "right" }, thickness: 12, len: 0.8 },
        line: { color: idx.map(function (i) { return s.replay[i] >= 0 ? "#000" : "rgba(0,0,0,0.25)"; }),
          width: idx.map(function (i) { return s.replay[i] >= 0 ? 1.2 : 0.4; }) },
      },
    };
  }

  function mapTraces(run, geo, colourBy) {
    const traces = [wallTrace(geo)];
    Object.keys(run.sources).forEach(function (source) { traces.push(pointTrace(run, source, colourBy)); });
    if (geo.start) {
      traces.push({ type: "scatter", mode: "markers", x: [geo.start[0]], y: [geo.start[1]], name: "start",
        marker: { symbol: "star", size: 15, color: "#fff", line: { color: "#000", width: 1.2 } },
        hoverinfo: "name" });
    }
    traces.push({ type: "scatter", mode: "lines+markers", x: [], y: [], name: "trajectory", hoverinfo: "skip",
      line: { color: TRAJECTORY, width: 2.4 }, marker: { size: 3, color: TRAJECTORY }, visible: true });
    traces.push({ type: "scatter", mode: "markers", x: [], y: [], name: "selected", hoverinfo: "skip",
      marker: { symbol: "circle-open", size: 18, color: TRAJECTORY, line: { width: 3 } }, showlegend: false });
    return traces;
  }

  function historyFigure(run) {
    const h = run.explorer.history;
    const data = [];
    if (!h) return null;
    Object.keys(h.max_reward).forEach(function (a) {
      data.push({ type: "scatter", mode: "lines", x: h.evaluations, y: h.max_reward[a], name: "area " + a + " max reward",
        line: { color: AREA_COLOURS[a % AREA_COLOURS.length], width: 2.2, shape: "hv" } });
    });
    if (h.exploit) {
      Object.keys(h.exploit).forEach(function (a) {
        data.push({ type: "scatter", mode: "lines", x: h.evaluations, y: h.exploit[a], yaxis: "y2",
          name: "area " + a + " exploitation budget", line: { color: AREA_COLOURS[a % AREA_COLOURS.length],
            width: 1.6, dash: "dot" } });
      });
      data.push({ type: "scatter", mode: "lines", x: h.evaluations, y: h.explore, yaxis: "y2", name: "exploration",
        line: { color: "#999", width: 1.4, dash: "dot" } });
    }
    if (!data.length) return null;
    const layout = { font: FONT, margin: { l: 50, r: h.exploit ? 60 : 15, t: 30, b: 30 }, hovermode: "x unified",
      title: { text: "per area over the run", font: { size: 13 }, x: 0.01, xanchor: "left" },
      legend: { orientation: "h", y: -0.3, font: { size: 10.5 } },
      xaxis: { title: { text: "evaluations", standoff: 4 } }, yaxis: { title: { text: "max reward" }, range: [0, 1.02] },
      template: "plotly_white" };
    if (h.exploit) {
      layout.yaxis2 = { title: { text: "evaluations (dotted)" }, overlaying: "y", side: "right", rangemode: "tozero",
        showgrid: false };
    }
    return { data: data, layout: layout };
  }

  function detailRows(rows) {
    return el("table", {}, rows.map(function (r) {
      return el("tr", {}, [el("th", { text: r[0] }), el("td", { text: r[1] })]);
    }));
  }

  // One run panel: the map, the selected policy's details, the per-area history.
  function Panel(root, side) {
    this.root = root;
    this.side = side;
    this.run = null;
  }

  Panel.prototype.show = function (run, colourBy) {
    const self = this;
    this.run = run;
    this.root.innerHTML = "";
    if (!run) { this.root.style.display = "none"; return; }
    this.root.style.display = "";
    const ex = run.explorer;
    const facts = run.facts.map(function (f) { return f[0] + " " + f[1]; }).join(" · ");
    this.root.appendChild(el("h3", { text: run.label }));
    this.root.appendChild(el("div", { class: "run-facts", text: facts }));
    if (!ex) {
      this.root.appendChild(el("p", { class: "note", text: run.missing || "no archive to explore" }));
      return;
    }
    const replayNote = ex.replays.length + " of " + ex.replayed_of + " policies replayed" +
      (ex.replayed_of > ex.replay_cap ? " (a sample: the best of each reward area, the rest spread over the map)" : "") +
      "; outlined points have a trajectory and a final view.";
    this.root.appendChild(el("div", { class: "note", text: replayNote }));
    this.map = el("div", { class: "map", id: "map-" + this.side });
    this.details = el("div", { class: "details", id: "details-" + this.side });
    const side = el("div", { class: "side" }, [this.details]);
    this.root.appendChild(el("div", { class: "body" }, [el("div", {}, [this.map]), side]));
    const geo = DATA.maps[ex.map];
    this.geo = geo;
    this.traces = mapTraces(ex, geo, colourBy);
    this.trajectoryIndex = this.traces.length - 2;
    Plotly.newPlot(this.map, this.traces, mapLayout(geo), CONFIG).then(function () {
      self.map.on("plotly_click", function (event) {
        const point = event.points.find(function (p) { return p.customdata && p.customdata.length === 2; });
        if (point) self.select(point.customdata[0], point.customdata[1]);
      });
    });
    const history = historyFigure(run);
    if (history) {
      this.history = el("div", { class: "history", id: "history-" + this.side });
      side.appendChild(this.history);
      Plotly.newPlot(this.history, history.data, history.layout, CONFIG);
    }
    this.select.apply(this, bestPolicy(ex));
  };

  Panel.prototype.select = function (source, index) {
    const ex = this.run.explorer;
    const s = ex.sources[source];
    if (!s || index === null || index === undefined || index >= s.x.length) {
      this.details.innerHTML = "";
      this.details.appendChild(el("div", { class: "caption", text: "Click a policy on the map to see its trajectory, final view, reward, descriptor and generation." }));
      return;
    }
    const replay = s.replay[index] >= 0 ? ex.replays[s.replay[index]] : null;
    Plotly.restyle(this.map, { x: [replay ? replay.x : []], y: [replay ? replay.y : []] }, [this.trajectoryIndex]);
    Plotly.restyle(this.map, { x: [[s.x[index]]], y: [[s.y[index]]] }, [this.trajectoryIndex + 1]);
    this.details.innerHTML = "";
    this.details.setAttribute("data-source", source);
    this.details.setAttribute("data-index", String(index));
    const view = replay ? el("img", { class: "view", src: replay.view, alt: "final top-down view" })
      : el("div", { class: "view-missing", text: "not replayed: the page replays at most " + ex.replay_cap +
        " policies per run (outlined on the map)" });
    const rows = [
      ["policy", source + " #" + index],
      ["reward", fmt(s.reward[index], 4) + (replay && Math.abs(replay.reward - s.reward[index]) > 1e-3
        ? " (replay: " + fmt(replay.reward, 4) + ")" : "")],
      ["reward area", s.area[index] >= 0 ? "area " + s.area[index] : "none"],
      ["descriptor", "(" + s.descriptor[index].map(function (v) { return fmt(v, 4); }).join(", ") + ")"],
      ["final position", "(" + fmt(s.x[index], this.geo.decimals) + ", " + fmt(s.y[index], this.geo.decimals) + ")"],
      ["generation found", s.generation ? String(s.generation[index]) : "not recorded by " + this.run.algorithm],
    ];
    if (replay) rows.push(["trajectory", replay.x.length + " positions over the episode (red line)"]);
    this.details.appendChild(el("div", {}, [view]));
    this.details.appendChild(el("div", {}, [detailRows(rows)]));
  };

  // The policy shown first: the best rewarded one, else the first replayed one.
  function bestPolicy(ex) {
    let best = null;
    Object.keys(ex.sources).forEach(function (source) {
      const s = ex.sources[source];
      s.reward.forEach(function (r, i) {
        const score = (s.replay[i] >= 0 ? 1e6 : 0) + (r || 0);
        if (best === null || score > best[2]) best = [source, i, score];
      });
    });
    return best ? [best[0], best[1]] : [null, null];
  }

  function setUpExplorer() {
    const a = document.getElementById("run-a"), b = document.getElementById("run-b");
    const colour = document.getElementById("colour-by");
    if (!a) return;
    const left = new Panel(document.getElementById("panel-a"), "a");
    const right = new Panel(document.getElementById("panel-b"), "b");
    function refresh() {
      document.getElementById("panels").classList.toggle("single", !b.value);
      left.show(RUNS[a.value], colour.value);
      right.show(b.value ? RUNS[b.value] : null, colour.value);
    }
    a.addEventListener("change", refresh);
    b.addEventListener("change", refresh);
    colour.addEventListener("change", refresh);
    refresh();
    window.divergentReport = { panels: { a: left, b: right } };
  }

  drawFigures();
  setUpExplorer();
})();
