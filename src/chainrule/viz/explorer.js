// chainrule trace explorer: draws the graph (positions come from Python) and walks the backward
// pass node by node. Everything it shows comes from the JSON in #trace-data; text is only ever
// set through textContent, never parsed as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var SVG = "http://www.w3.org/2000/svg"; // an XML namespace name, not a request
  var N = data.steps.length;
  var cur = 0;
  var timer = null;

  // ---- numbers ---------------------------------------------------------------------------------
  function num(v) {
    if (typeof v === "string") return v; // NaN, Infinity, -Infinity
    if (v === 0) return "0";
    return String(Number(v.toPrecision(4)));
  }
  function nested(flat, shape, off) {
    if (shape.length === 1) return "[" + flat.slice(off, off + shape[0]).map(num).join(", ") + "]";
    var inner = shape.slice(1), step = inner.reduce(function (a, b) { return a * b; }, 1), parts = [];
    for (var i = 0; i < shape[0]; i++) parts.push(nested(flat, inner, off + i * step));
    return "[" + parts.join(", ") + "]";
  }
  function shapeText(shape) {
    return "(" + shape.join(", ") + (shape.length === 1 ? ",)" : ")");
  }
  function fmt(a, maxItems) {
    if (a === null || a === undefined) return "—";
    if (a.text !== undefined) return a.text;
    if (a.shape.length === 0) return num(a.data[0]);
    if (a.data && a.size <= (maxItems || 12)) return nested(a.data, a.shape, 0);
    var head = (a.data || a.head).slice(0, 3).map(num).join(", ");
    return shapeText(a.shape) + " [" + head + ", …]";
  }

  // ---- DOM helpers -------------------------------------------------------------------------------
  function el(tag, attrs) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) e.appendChild(arguments[i]);
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- the drawing -------------------------------------------------------------------------------
  var byId = {};
  data.nodes.forEach(function (n) { byId[n.id] = n; });
  function halfWidth(n) {
    if (n.kind === "op") return 22;
    if (n.kind === "leaf") return 34;
    if (n.kind === "const") return 6 + 3.5 * n.label.length;
    return 14;
  }
  // fits the box (down to 85% size), scrolls beyond that
  var svg = sv("svg", { viewBox: "0 0 " + data.width + " " + data.height, role: "img", "aria-label": data.title,
    style: "display:block; width:100%; max-width:" + data.width + "px; min-width:" + Math.round(0.85 * data.width) + "px" });
  var defs = sv("defs");
  var marker = sv("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "9",
    markerHeight: "9", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
  marker.appendChild(sv("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }));
  defs.appendChild(marker);
  svg.appendChild(defs);

  // parallel edges (one value used twice by the same node: a copy gate) are bent apart
  var pairCount = {}, pairSeen = {};
  data.edges.forEach(function (e) { pairCount[e.src + ">" + e.dst] = (pairCount[e.src + ">" + e.dst] || 0) + 1; });
  var edgeEls = data.edges.map(function (e, k) {
    var s = byId[e.src], d = byId[e.dst], key = e.src + ">" + e.dst;
    var m = pairCount[key], j = pairSeen[key] = (pairSeen[key] || 0) + 1;
    var off = (j - 1 - (m - 1) / 2) * 44;
    var x1 = s.x + halfWidth(s), y1 = s.y, x2 = d.x - halfWidth(d) - 2, y2 = d.y;
    var mx = (x1 + x2) / 2, my = (y1 + y2) / 2 + off * 0.75;
    var g = sv("g", { "class": "edge", id: "edge-" + k });
    g.appendChild(sv("path", { d: "M" + x1 + "," + y1 + " C" + mx + "," + (y1 + off) + " " + mx + "," + (y2 + off) +
      " " + x2 + "," + y2,
      "marker-end": "url(#arrow)" }));
    g.appendChild(sv("text", { "class": "v", x: mx, y: my - 6, "text-anchor": "middle" }, e.value));
    var gt = sv("text", { "class": "g", x: mx, y: my + 13, "text-anchor": "middle" }, e.grad);
    g.appendChild(gt);
    svg.appendChild(g);
    return { g: g, grad: gt, edge: e };
  });

  var leafGradEls = {};
  var nodeEls = {};
  data.nodes.forEach(function (n) {
    var g = sv("g", { "class": "node " + n.kind, id: "node-" + n.id });
    if (n.kind === "op") {
      g.appendChild(sv("circle", { cx: n.x, cy: n.y, r: 22 }));
      var size = n.label.length > 4 ? 9 : n.label.length > 2 ? 12 : 15;
      g.appendChild(sv("text", { "class": "sym", x: n.x, y: n.y + size / 3, "text-anchor": "middle",
        style: "font-size:" + size + "px" }, n.label));
      g.appendChild(sv("text", { "class": "nm", x: n.x, y: n.y + 36, "text-anchor": "middle" },
        n.name + (n.gate ? " · " + n.gate : "")));
      nodeEls[n.step] = g;
    } else if (n.kind === "leaf") {
      g.appendChild(sv("rect", { x: n.x - 34, y: n.y - 15, width: 68, height: 30, rx: 7 }));
      g.appendChild(sv("text", { x: n.x, y: n.y + 5, "text-anchor": "middle", "font-weight": "700" }, n.label));
      var lg = sv("text", { "class": "lg", x: n.x, y: n.y + 30, "text-anchor": "middle" }, "dL/d" + n.name + " = " + n.grad);
      g.appendChild(lg);
      leafGradEls[n.id] = lg;
    } else if (n.kind === "const") {
      g.appendChild(sv("text", { x: n.x, y: n.y + 4, "text-anchor": "middle" }, n.label));
    } else {
      g.appendChild(sv("text", { x: n.x, y: n.y + 5, "text-anchor": "middle", "font-weight": "700" }, n.label));
    }
    svg.appendChild(g);
  });
  document.getElementById("graph").appendChild(svg);

  // a leaf's gradient is complete once the last edge leaving it has carried its gradient back
  var leafDone = {};
  data.edges.forEach(function (e) {
    if (byId[e.src].kind === "leaf") leafDone[e.src] = Math.max(leafDone[e.src] || 0, e.step);
  });

  // ---- the panel ---------------------------------------------------------------------------------
  var panel = document.getElementById("panel");
  function cell(cls, text) { return el("td", { "class": cls, text: text }); }

  function introPanel() {
    panel.appendChild(el("h2", { id: "step-title", text: "forward pass done: " + data.output.name + " = " +
      fmt(data.output.value) }));
    panel.appendChild(el("p", { "class": "gate", text: "The forward pass computed every value (green, above " +
      "each edge). Press next: the backward pass visits the " + N + " nodes from the output back to the " +
      "inputs. Each node receives the upstream gradient, multiplies it by its local gradient and passes the " +
      "downstream gradients (red, below each edge) to its inputs." }));
  }

  function stepPanel(s) {
    var title = "step " + s.index + " / " + N + ": " + s.name + " = " + s.op + "(" +
      s.inputs.map(function (i) { return i.name; }).join(", ") + ")";
    panel.appendChild(el("h2", { id: "step-title", text: title }));
    if (s.doc) panel.appendChild(el("p", { "class": "doc", text: s.op + ": " + s.doc }));
    if (s.gateText) panel.appendChild(el("p", { "class": "gate", text: s.op + " gate: " + s.gateText }));
    var up = el("p", { "class": "up" }, el("span", { text: "value " }),
      el("span", { "class": "num value", id: "node-value", text: s.value ? fmt(s.value) : shapeText(s.shape) + " (not kept)" }),
      el("span", { text: " · upstream dL/d" + s.name + " = " }),
      el("span", { "class": "num upstream", id: "upstream", text: fmt(s.upstream) }));
    panel.appendChild(up);
    if (s.sources.length) {
      panel.appendChild(el("p", { "class": "note copy", text: "copy gate: " + s.name + " is used " + s.sources.length +
        " times, so its upstream is the sum " + s.sources.map(function (c) {
          return fmt(c.grad) + " (from " + c.from + ")"; }).join(" + ") }));
    }
    var tbody = el("tbody");
    var table = el("table", { id: "flow" },
      el("thead", {}, el("tr", {}, el("th", { text: "input" }), el("th", { text: "value" }),
        el("th", { text: "upstream" }), el("th", { text: "" }), el("th", { text: "local" }),
        el("th", { text: "" }), el("th", { text: "downstream" }))), tbody);
    var notes = [];
    s.inputs.forEach(function (inp, i) {
      var formula = inp.local && inp.local.text !== undefined;
      var tr = el("tr", { "class": "input", "data-input": String(i) },
        cell("name", inp.name + (inp.kind === "const" ? " (constant)" : "")),
        cell("num value", inp.value ? fmt(inp.value, 6) : shapeText(inp.shape) + " not kept"),
        cell("num upstream", inp.downstream ? fmt(s.upstream, 6) : ""),
        cell("op", inp.downstream ? (formula ? "→" : "×") : ""),
        cell("num local" + (formula ? " formula" : ""), fmt(inp.local, 6)),
        cell("op", inp.downstream ? (inp.broadcast ? "Σ=" : "=") : ""),
        cell("num downstream", inp.downstream ? fmt(inp.downstream, 6) : "no gradient"));
      tbody.appendChild(tr);
      if (inp.broadcast) notes.push("broadcast: the gradient for " + inp.name + " was summed over axes (" +
        inp.broadcast.join(", ") + ") to shape " + shapeText(inp.shape));
      if (inp.jacobian) notes.push("d" + s.name + "/d" + inp.name + ": " + inp.jacobian);
    });
    panel.appendChild(table);
    notes.filter(function (t, k) { return notes.indexOf(t) === k; }).forEach(function (t) {
      panel.appendChild(el("p", { "class": "note", text: t }));
    });
    if (s.index === N) {
      var ul = el("ul", { id: "leaf-grads" });
      data.leaves.forEach(function (l) {
        ul.appendChild(el("li", {}, el("span", { text: "dL/d" + l.name + " = " }),
          el("span", { "class": "num downstream", text: fmt(l.grad) })));
      });
      panel.appendChild(el("p", { "class": "note", text: "backward pass complete; the leaves' gradients:" }));
      panel.appendChild(ul);
    }
  }

  // ---- state -------------------------------------------------------------------------------------
  function render() {
    document.getElementById("counter").textContent = cur === 0 ? "forward pass · step 0 / " + N : "step " + cur + " / " + N;
    document.getElementById("prev").disabled = cur === 0;
    document.getElementById("first").disabled = cur === 0;
    document.getElementById("next").disabled = cur === N;
    for (var k in nodeEls) {
      var st = Number(k);
      nodeEls[k].classList.toggle("current", st === cur);
      nodeEls[k].classList.toggle("done", st < cur);
    }
    var curId = cur ? "op" + cur : null;
    edgeEls.forEach(function (x) {
      var shown = cur >= Math.max(1, x.edge.step);
      x.grad.style.visibility = shown ? "visible" : "hidden";
      x.g.classList.toggle("active", cur > 0 && (x.edge.step === cur || x.edge.src === curId));
    });
    for (var id in leafGradEls) leafGradEls[id].style.visibility = cur >= (leafDone[id] || Infinity) ? "visible" : "hidden";
    if (cur > 0) follow(data.steps[cur - 1].index);
    panel.textContent = "";
    panel.setAttribute("data-step", String(cur));
    if (cur === 0) introPanel(); else stepPanel(data.steps[cur - 1]);
  }
  // keep the current node in view when the graph is larger than its box
  function follow(step) {
    var box = document.getElementById("graph"), node = null;
    data.nodes.forEach(function (n) { if (n.step === step) node = n; });
    if (!node) return;
    var scale = svg.getBoundingClientRect().width / data.width;
    var x = node.x * scale, y = node.y * scale;
    if (x < box.scrollLeft + 40 || x > box.scrollLeft + box.clientWidth - 40) box.scrollLeft = x - box.clientWidth / 2;
    if (y < box.scrollTop + 40 || y > box.scrollTop + box.clientHeight - 40) box.scrollTop = y - box.clientHeight / 2;
  }
  function go(k) { cur = Math.max(0, Math.min(N, k)); render(); }
  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    document.getElementById("play").textContent = "▶ play";
  }
  function play() {
    if (timer !== null) { stop(); return; }
    if (cur === N) go(0);
    document.getElementById("play").textContent = "❚❚ pause";
    timer = setInterval(function () { if (cur >= N) stop(); else go(cur + 1); }, 1100);
  }
  document.getElementById("next").addEventListener("click", function () { stop(); go(cur + 1); });
  document.getElementById("prev").addEventListener("click", function () { stop(); go(cur - 1); });
  document.getElementById("first").addEventListener("click", function () { stop(); go(0); });
  document.getElementById("play").addEventListener("click", play);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowRight") { stop(); go(cur + 1); }
    else if (ev.key === "ArrowLeft") { stop(); go(cur - 1); }
    else if (ev.key === "Home") { stop(); go(0); }
    else if (ev.key === " ") { ev.preventDefault(); play(); }
  });
  render();
})();
