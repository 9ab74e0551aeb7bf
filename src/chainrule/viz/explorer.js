// chainrule trace explorer: lays the graph out (layered, left to right or, in a narrow window, top
// to bottom), draws it as SVG and walks the backward pass node by node. Everything it shows comes
// from the trace JSON in #trace-data (or a trace file opened with the "open" button); text is only
// ever set through textContent, never parsed as HTML.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg"; // an XML namespace name, not a request
  var FONT = "system-ui, -apple-system, Helvetica, Arial, sans-serif";
  var LEAVES_SHOWN = 200, MARGIN = 30, GAP = 14, LAYER_GAP = 18, MAX_SPAN = 40, DUMMY = { l: 3, r: 3, t: 3, b: 3 };
  var data, N, cur, timer = null, collapsed = {}, groupByPath = {}, view = null;

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
  function small(a, maxItems) {
    return a && a.text === undefined && (a.shape.length === 0 || (a.data && a.size <= (maxItems || 12)));
  }
  function summaryText(a) {
    var s = a.summary || {}, t = shapeText(a.shape) + " " + (a.dtype || "");
    if (s.min !== undefined) t += " · min " + num(s.min) + " · mean " + num(s.mean) + " · max " + num(s.max) +
      " · norm " + num(s.norm);
    if (s.nan) t += " · " + s.nan + " NaN";
    if (s.inf) t += " · " + s.inf + " inf";
    return t;
  }
  function fmt(a, maxItems) {
    if (a === null || a === undefined) return "—";
    if (a.text !== undefined) return a.text;
    if (a.shape.length === 0) return num(a.data[0]);
    if (small(a, maxItems)) return nested(a.data, a.shape, 0);
    return summaryText(a);
  }
  var byteUnits = ["B", "KB", "MB", "GB", "TB"];
  function bytes(n) {
    var k = 0;
    while (n >= 1000 && k < byteUnits.length - 1) { n /= 1000; k++; }
    return (k ? Number(n.toPrecision(3)) : n) + " " + byteUnits[k];
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
  // an array in the panel: the numbers when small; else its summary, which opens (click) on a
  // histogram of its values and its first values
  function arrEl(a, cls, id, maxItems) {
    var attrs = { "class": cls };
    if (id) attrs.id = id;
    if (!a || small(a, maxItems) || a.text !== undefined) { attrs.text = fmt(a, maxItems); return el("span", attrs); }
    var det = el("details", attrs, el("summary", { "class": "summary", text: summaryText(a) }));
    var s = a.summary || {};
    if (s.hist) {
      var top = Math.max.apply(null, s.hist) || 1, W = 8 * s.hist.length;
      var h = sv("svg", { "class": "hist", width: W, height: 32, viewBox: "0 0 " + W + " 32", role: "img",
        "aria-label": "histogram from " + num(s.min) + " to " + num(s.max) });
      s.hist.forEach(function (c, k) {
        var bh = Math.max(c ? 1 : 0, Math.round(30 * c / top));
        h.appendChild(sv("rect", { x: 8 * k + 1, y: 31 - bh, width: 6, height: bh }));
      });
      det.appendChild(el("div", {}, h, el("span", { "class": "range", text: " " + num(s.min) + " … " + num(s.max) })));
    }
    var vals = a.data || a.head || [];
    det.appendChild(el("div", { "class": "first", text: "first values: " + vals.slice(0, 16).map(num).join(", ") +
      (a.size > 16 ? ", … (" + a.size + " in all)" : "") }));
    return det;
  }

  // ---- text widths (canvas measures the same font the SVG draws with) ---------------------------
  // A text's width is the sum of its characters' widths, each measured once per font: measuring
  // every label of a big graph whole is most of its layout time. Kerning only narrows a text, so
  // the sum never falls short; text with combining marks or surrogate pairs is measured whole.
  var fonts = [];
  function tw(text, size, bold) {
    var m = fonts[2 * size + (bold ? 1 : 0)];
    if (m === undefined) {
      m = fonts[2 * size + (bold ? 1 : 0)] = { ctx: document.createElement("canvas").getContext("2d"), chars: new Map() };
      m.ctx.font = (bold ? "700 " : "") + size + "px " + FONT;
    }
    var w = 0;
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if ((c >= 0x300 && c <= 0x36f) || (c >= 0xd800 && c <= 0xdfff) || (c >= 0x200b && c <= 0x200f)) {
        w = m.ctx.measureText(text).width;
        break;
      }
      var cw = m.chars.get(c);
      if (cw === undefined) { cw = m.ctx.measureText(text[i]).width; m.chars.set(c, cw); }
      w += cw;
    }
    return Math.ceil(w) + 2;
  }

  // ---- which groups show: a collapsed group is drawn as one box -----------------------------------
  function repGroup(path) {
    if (!path) return null;
    var parts = path.split("."), p = "";
    for (var i = 0; i < parts.length; i++) {
      p = i ? p + "." + parts[i] : parts[i];
      if (groupByPath[p] && collapsed[p]) return p;
    }
    return null;
  }
  function groupLabel(g) {
    return g.path + (g.type ? " · " + g.type : "") + (g.repeat ? "  ×" + g.repeat[1] : "");
  }

  // sizes of what is drawn, as distances from the anchor (the centre of the shape): l, r, t, b
  function nodeBox(n, tb) {
    var ann = [], w, h;
    if (n.kind === "op") {
      var symW = tw(n.label, 15, true);
      w = symW > 36 ? symW + 16 : 44; h = 44;
      n.shapeW = w; n.shapeH = h;
      ann.push(n.name);
      if (n.uses > 1) ann.push("copy gate: Σ of " + n.uses);
      else if (n.gate) ann.push(n.gate);
    } else if (n.kind === "leaf") {
      w = Math.max(60, tw(n.label, 14, true) + 16); h = 30;
      n.shapeW = w; n.shapeH = h;
      ann.push("dL/d" + (/^[A-Za-z_][\w.]*$/.test(n.name) ? n.name : "(" + n.name + ")") + " = " + n.grad);
      if (n.uses > 1) ann.push("copy gate: Σ of " + n.uses);
    } else if (n.kind === "group") {
      w = Math.max(90, tw(n.label, 13, true) + 20); h = 40;
      n.shapeW = w; n.shapeH = h;
      ann.push(n.count + " nodes · click to expand");
    } else {
      var size = n.kind === "output" ? 14 : 12;
      w = tw(n.label, size, n.kind === "output") + 4; h = 18;
      n.shapeW = w; n.shapeH = h;
    }
    n.ann = ann;
    var aw = ann.reduce(function (m, t) { return Math.max(m, tw(t, 11, true)); }, 0), ah = 14 * ann.length;
    if (tb && ann.length) return { l: w / 2, r: w / 2 + 6 + aw, t: Math.max(h / 2, ah / 2), b: Math.max(h / 2, ah / 2) };
    return { l: Math.max(w, aw) / 2, r: Math.max(w, aw) / 2, t: h / 2, b: h / 2 + ah + (ann.length ? 2 : 0) };
  }

  // ---- layout: layers by longest path; each edge gets a label slot in the layer before its
  // destination and pass-through slots in between, so no label, edge or node sits on another -------
  function layout(tb) {
    var vnodes = [], vid = {}, vmap = {};
    data.nodes.forEach(function (n, k) {
      var g = n.kind === "op" || n.kind === "leaf" ? repGroup(n.group) : null;
      var id = g ? "group:" + g : n.id;
      vmap[n.id] = id;
      if (vid[id] === undefined) {
        var v = g ? { id: id, kind: "group", label: groupLabel(groupByPath[g]), path: g, count: 0, order: k, steps: [], last: 0 }
          : { id: n.id, kind: n.kind, label: n.label, name: n.name, gate: n.gate, grad: n.grad, uses: n.uses || 0,
              step: n.step, order: k, group: n.group };
        vid[id] = vnodes.length;
        vnodes.push(v);
      }
      var vn = vnodes[vid[id]];
      if (vn.kind === "group") { vn.count++; if (n.step) { vn.steps.push(n.step); vn.last = Math.max(vn.last, n.step); } }
    });
    var vedges = [];
    data.edges.forEach(function (e, k) {
      var s = vmap[e.src], t = vmap[e.dst];
      if (s !== t) vedges.push({ s: vid[s], t: vid[t], e: e, k: k });
    });
    var M = vnodes.length, ins = [], outs = [];
    for (var i = 0; i < M; i++) { ins.push([]); outs.push([]); }
    vedges.forEach(function (ve) { outs[ve.s].push(ve); ins[ve.t].push(ve); });
    // longest-path ranks in a topological order (Kahn; a cycle made by collapsing is broken in order)
    var indeg = ins.map(function (a) { return a.length; }), rank = new Array(M).fill(0), done = new Array(M).fill(false);
    // the ready nodes in a binary heap by forward order (sorting the list each time is quadratic)
    var heap = [], topo = [];
    function hpush(v) {
      var i = heap.length;
      heap.push(v);
      while (i > 0) {
        var up = (i - 1) >> 1;
        if (vnodes[heap[up]].order <= vnodes[v].order) break;
        heap[i] = heap[up]; heap[up] = v; i = up;
      }
    }
    function hpop() {
      var top = heap[0], last = heap.pop();
      if (heap.length) {
        var i = 0, n = heap.length;
        heap[0] = last;
        for (;;) {
          var l = 2 * i + 1, r = l + 1, m = i;
          if (l < n && vnodes[heap[l]].order < vnodes[heap[m]].order) m = l;
          if (r < n && vnodes[heap[r]].order < vnodes[heap[m]].order) m = r;
          if (m === i) break;
          var t = heap[i]; heap[i] = heap[m]; heap[m] = t; i = m;
        }
      }
      return top;
    }
    for (i = 0; i < M; i++) if (!indeg[i]) hpush(i);
    var next = 0;
    while (topo.length < M) {
      if (!heap.length) { // a cycle: take the earliest node not placed yet
        while (done[next]) next++;
        hpush(next);
      }
      var u = hpop();
      if (done[u]) continue;
      done[u] = true;
      topo.push(u);
      outs[u].forEach(function (ve) {
        if (!done[ve.t]) {
          rank[ve.t] = Math.max(rank[ve.t], rank[u] + 1);
          if (--indeg[ve.t] === 0) hpush(ve.t);
        }
      });
    }
    for (var q = topo.length - 1; q >= 0; q--) { // sources sit just before their first use
      u = topo[q];
      if (!ins[u].length && outs[u].length) {
        rank[u] = Math.max(0, Math.min.apply(null, outs[u].map(function (ve) { return rank[ve.t]; })) - 1);
      }
    }
    var maxRank = Math.max.apply(null, rank.concat([0])), L = 2 * maxRank + 1, layers = [];
    for (i = 0; i < L; i++) layers.push([]);
    var items = [];
    function Item(kind, v, ve, box, layer) {
      this.id = items.length; this.kind = kind; this.v = v; this.ve = ve; this.box = box; this.layer = layer;
      // along = across the flow (y when left to right); across = along the flow
      this.lo = tb ? box.l : box.t; this.hi = tb ? box.r : box.b;
      this.alo = tb ? box.t : box.l; this.ahi = tb ? box.b : box.r;
      this.nb = [];
      // (NaN, not 0: V8 then stores these fields as doubles from the start instead of migrating
      // every item when the first fraction is written)
      this.pos = NaN; this.x = NaN; this.y = NaN;
    }
    function add(kind, v, ve, box, layer) {
      var item = new Item(kind, v, ve, box, layer);
      items.push(item); layers[layer].push(item);
      return item;
    }
    var nodeItems = vnodes.map(function (v, k) { return add("node", v, null, nodeBox(v, tb), 2 * rank[k]); });
    var paths = [];
    vedges.forEach(function (ve) {
      var a = 2 * rank[ve.s], b = 2 * rank[ve.t], chain = [nodeItems[ve.s]];
      if (b <= a) { paths.push({ ve: ve, chain: [nodeItems[ve.s], nodeItems[ve.t]], label: null }); return; }
      var label = null, from = b - a > 2 * MAX_SPAN ? b - 2 : a + 1; // a very long edge: no pass-through slots
      for (var l = from; l < b; l++) {
        var it;
        if (l === b - 1) {
          var vw = tw(ve.e.value, 11), gw = ve.e.grad ? tw(ve.e.grad, 11, true) : 0, w = Math.max(vw, gw, 8);
          it = label = add("label", null, ve, tb ? { l: 2, r: w + 8, t: 15, b: 15 }
            : { l: w / 2 + 3, r: w / 2 + 3, t: 16, b: 16 }, l);
        } else {
          it = add("dummy", null, ve, DUMMY, l);
        }
        chain.push(it);
      }
      chain.push(nodeItems[ve.t]);
      for (var c = 0; c + 1 < chain.length; c++) { chain[c].nb.push(chain[c + 1]); chain[c + 1].nb.push(chain[c]); }
      paths.push({ ve: ve, chain: chain, label: label });
    });
    // Ordering and packing visit every item many times: they run on typed arrays indexed by item
    // number (the neighbours as one list with offsets), which a big graph's 100,000 items need
    var NI = items.length, n, j, s, it, id, e, layer;
    var layerOf = new Int32Array(NI), idxA = new Float64Array(NI), keyA = new Float64Array(NI);
    var posA = new Float64Array(NI), wantA = new Float64Array(NI), loA = new Float64Array(NI), hiA = new Float64Array(NI);
    var nbStart = new Int32Array(NI + 1);
    for (i = 0; i < NI; i++) {
      it = items[i];
      layerOf[i] = it.layer; loA[i] = it.lo; hiA[i] = it.hi;
      nbStart[i + 1] = nbStart[i] + it.nb.length;
    }
    var nbList = new Int32Array(nbStart[NI]);
    for (i = 0; i < NI; i++) for (j = 0, n = items[i].nb; j < n.length; j++) nbList[nbStart[i] + j] = n[j].id;
    var order = layers.map(function (layer) {
      return layer.map(function (it, k) { idxA[it.id] = k; return it.id; });
    });
    function byKey(a, b) { return keyA[a] - keyA[b]; }  // (a stable sort: ties stay in their order)
    // barycentre ordering: each item moves to the mean place of its neighbours in the layer swept from
    function sweep(from, to, dir) {
      for (var l = from; l !== to; l += dir) {
        var layer = order[l], k, j, s, n, id, e, o, unsorted = false;
        for (k = 0; k < layer.length; k++) {
          id = layer[k]; s = 0; n = 0;
          for (j = nbStart[id], e = nbStart[id + 1]; j < e; j++) {
            o = nbList[j];
            if (layerOf[o] === l - dir) { s += idxA[o]; n++; }
          }
          keyA[id] = n ? s / n : idxA[id];
          if (k && keyA[id] < keyA[layer[k - 1]]) unsorted = true;
        }
        if (!unsorted) continue;
        layer.sort(byKey);
        for (k = 0; k < layer.length; k++) idxA[layer[k]] = k;
      }
    }
    for (var it2 = 0; it2 < 4; it2++) { sweep(1, L, 1); sweep(L - 2, -1, -1); }
    // positions along each layer: stacked, then pulled towards neighbours, never closer than GAP
    function pack(layer) {
      var p = 0, shift = 0, k, id, prev = -1;
      for (k = 0; k < layer.length; k++) {
        id = layer[k];
        p = k ? Math.max(wantA[id], p + hiA[prev] + GAP + loA[id]) : wantA[id];
        posA[id] = p;
        shift += p - wantA[id];
        prev = id;
      }
      shift = Math.max(0, shift / (layer.length || 1));
      for (k = 0; k < layer.length; k++) posA[layer[k]] -= shift;
    }
    order.forEach(pack);  // (every want is 0 here)
    for (var r = 0; r < 6; r++) {
      for (var q2 = 0; q2 < L; q2++) {
        layer = order[r % 2 ? L - 1 - q2 : q2];
        for (i = 0; i < layer.length; i++) {
          id = layer[i]; s = 0; n = nbStart[id + 1] - nbStart[id];
          for (j = nbStart[id], e = nbStart[id + 1]; j < e; j++) s += posA[nbList[j]];
          wantA[id] = n ? s / n : posA[id];
        }
        pack(layer);
      }
    }
    for (i = 0; i < NI; i++) items[i].pos = posA[i];
    var minA = Infinity, maxA = -Infinity;
    items.forEach(function (it) { minA = Math.min(minA, it.pos - it.lo); maxA = Math.max(maxA, it.pos + it.hi); });
    var c0 = MARGIN, crossPos = [], bands = [];
    layers.forEach(function (layer, l) {
      var a = 0, b = 0;
      layer.forEach(function (it) { a = Math.max(a, it.alo); b = Math.max(b, it.ahi); });
      if (!layer.length) { a = b = 6; }
      var c = c0 + a;
      crossPos.push(c);
      bands.push([c - a, c + b]);
      c0 = c + b + LAYER_GAP;
    });
    items.forEach(function (it) {
      var along = it.pos - minA + MARGIN + 10, across = crossPos[it.layer];
      it.x = tb ? along : across;
      it.y = tb ? across : along;
    });
    var extentAlong = maxA - minA + 2 * MARGIN + 10, extentAcross = c0 + MARGIN;
    return { tb: tb, nodes: nodeItems, paths: paths, bands: bands, width: tb ? extentAlong : extentAcross,
             height: tb ? extentAcross : extentAlong, vnodes: vnodes, vmap: vmap };
  }

  // ---- the drawing -------------------------------------------------------------------------------
  // A small graph is drawn whole and scaled to the box's width. A big one (more than VIRTUAL_MIN
  // nodes and edges) is drawn at full size and scrolls both ways, and only what is in view
  // has elements: each node and edge is filed under the grid cells its box covers, and scrolling
  // adds what comes near the view and removes what is far from it.
  var VIRTUAL_MIN = 1500, CELL = 512;
  var scale = 1, stepItem = {}, outputItem = null, leafDone = {}, virtual = false;
  var shapes = [], drawn = new Map(), grid = [], wide = [], gridCols = 1, edgeLayer = null, nodeLayer = null, viewPending = false;
  function draw() {
    var box = document.getElementById("graph"), t0 = performance.now();
    var avail = Math.max(200, box.clientWidth - 2);
    // left to right, as the lecture draws it, unless that would shrink it below 80% and top to
    // bottom fits better (a tall drawing scrolls, which is why top to bottom must win clearly); a
    // big graph scrolls both ways in either, and stays left to right
    var lr = layout(false), lay = lr, fitLR = Math.min(1, avail / lr.width);
    if (fitLR < 0.8 && lr.nodes.length + lr.paths.length <= VIRTUAL_MIN) {
      var tb = layout(true);
      if (0.85 * Math.min(1, avail / tb.width) > fitLR) lay = tb;
    }
    view = lay;
    var t1 = performance.now();
    var W = Math.ceil(lay.width), H = Math.ceil(lay.height);
    shapes = [];
    lay.paths.forEach(function (p) { shapes.push({ path: p, box: edgeBox(p, lay) }); });
    lay.nodes.forEach(function (it) {
      shapes.push({ item: it, box: [it.x - it.box.l, it.y - it.box.t, it.x + it.box.r, it.y + it.box.b] });
    });
    virtual = shapes.length > VIRTUAL_MIN;
    var attrs = { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-label": data.title,
      "data-orientation": lay.tb ? "top-to-bottom" : "left-to-right", "data-shapes": shapes.length,
      style: "display:block; max-width:100%; height:auto" };
    if (virtual) { scale = 1; attrs.style = "display:block"; }
    var svg = sv("svg", attrs);
    var defs = sv("defs");
    var marker = sv("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "9",
      markerHeight: "9", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.appendChild(sv("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    drawGroups(svg, lay);
    edgeLayer = svg.appendChild(sv("g", { "class": "edges" }));
    nodeLayer = svg.appendChild(sv("g", { "class": "nodes" }));
    drawn = new Map();
    leafDone = {};
    data.edges.forEach(function (e) {
      if (e.src.indexOf("leaf") === 0) leafDone[e.src] = Math.max(leafDone[e.src] || 0, e.step);
    });
    stepItem = {};
    lay.nodes.forEach(function (it) {
      if (it.v.step) stepItem[it.v.step] = it;
      if (it.v.kind === "output") outputItem = it;
      (it.v.steps || []).forEach(function (st) { stepItem[st] = it; });
    });
    if (!virtual) shapes.forEach(function (sh, k) { drawShape(k); });
    else {
      gridCols = Math.ceil(W / CELL) + 1;
      grid = [];
      wide = [];
      shapes.forEach(function (sh, k) {
        var b = sh.box, c0 = Math.max(0, Math.floor(b[0] / CELL)), c1 = Math.max(0, Math.floor(b[2] / CELL));
        var r0 = Math.max(0, Math.floor(b[1] / CELL)), r1 = Math.max(0, Math.floor(b[3] / CELL));
        if ((c1 - c0 + 1) * (r1 - r0 + 1) > 16) { wide.push(k); return; }  // a long edge: checked at every view
        for (var r = r0; r <= r1; r++) {
          for (var c = c0; c <= c1; c++) {
            var cell = r * gridCols + c;
            (grid[cell] || (grid[cell] = [])).push(k);
          }
        }
      });
    }
    box.textContent = "";
    box.appendChild(svg);
    if (virtual) updateView();
    else scale = svg.getBoundingClientRect().width / W;
    box.setAttribute("data-layout-ms", String(Math.round(t1 - t0)));  // read by benchmarks/page_chromium.py
    box.setAttribute("data-draw-ms", String(Math.round(performance.now() - t1)));
  }

  // the box an edge's drawing stays in: its items' boxes, and the bands of the layers it crosses
  function edgeBox(p, lay) {
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    p.chain.forEach(function (it) {
      var band = lay.bands[it.layer];
      x0 = Math.min(x0, it.x - it.box.l); x1 = Math.max(x1, it.x + it.box.r);
      y0 = Math.min(y0, it.y - it.box.t); y1 = Math.max(y1, it.y + it.box.b);
      if (lay.tb) { y0 = Math.min(y0, band[0]); y1 = Math.max(y1, band[1]); }
      else { x0 = Math.min(x0, band[0]); x1 = Math.max(x1, band[1]); }
    });
    return [x0 - 10, y0 - 10, x1 + 10, y1 + 10];
  }
  function meets(b, r) { return b[0] < r[2] && r[0] < b[2] && b[1] < r[3] && r[1] < b[3]; }

  // (virtual drawing) elements for what lies within a quarter of a screen of the view; those more
  // than a screen away are removed
  function updateView() {
    viewPending = false;
    if (!virtual) return;
    var box = document.getElementById("graph"), s = scale;
    var w = box.clientWidth / s, h = box.clientHeight / s, x = box.scrollLeft / s, y = box.scrollTop / s;
    var near = [x - w / 4, y - h / 4, x + 1.25 * w, y + 1.25 * h], far = [x - w, y - h, x + 2 * w, y + 2 * h];
    drawn.forEach(function (rec, k) {
      if (!meets(shapes[k].box, far)) { rec.g.remove(); drawn.delete(k); }
    });
    var c0 = Math.max(0, Math.floor(near[0] / CELL)), c1 = Math.min(gridCols - 1, Math.floor(near[2] / CELL));
    var r0 = Math.max(0, Math.floor(near[1] / CELL)), r1 = Math.floor(near[3] / CELL), k, j;
    for (j = 0; j < wide.length; j++) {
      k = wide[j];
      if (!drawn.has(k) && meets(shapes[k].box, near)) drawShape(k);
    }
    for (var r = r0; r <= r1; r++) {
      for (var c = c0; c <= c1; c++) {
        var cell = grid[r * gridCols + c];
        if (!cell) continue;
        for (j = 0; j < cell.length; j++) {
          k = cell[j];
          if (!drawn.has(k) && meets(shapes[k].box, near)) drawShape(k);
        }
      }
    }
  }
  function drawShape(k) {
    var sh = shapes[k], rec = sh.path ? drawEdge(edgeLayer, sh.path, view.tb, view) : drawNode(nodeLayer, sh.item, view.tb);
    drawn.set(k, rec);
    paint(rec);
  }

  function drawGroups(svg, lay) {
    // an expanded group: a light frame around its nodes, its name on the frame (click to collapse)
    var frames = {};
    lay.nodes.forEach(function (it) {
      var gp = it.v.group;
      if (!gp || it.v.kind === "group") return;
      var parts = gp.split("."), p = "";
      for (var i = 0; i < parts.length; i++) {
        p = i ? p + "." + parts[i] : parts[i];
        var f = frames[p] || (frames[p] = [Infinity, Infinity, -Infinity, -Infinity]);
        f[0] = Math.min(f[0], it.x - it.box.l); f[2] = Math.max(f[2], it.x + it.box.r);
        f[1] = Math.min(f[1], it.y - it.box.t); f[3] = Math.max(f[3], it.y + it.box.b);
      }
    });
    data.groups.forEach(function (g) {
      var b = frames[g.path];
      if (collapsed[g.path] || repGroup(g.path) !== null || !b) return;
      var x0 = b[0], y0 = b[1], x1 = b[2], y1 = b[3];
      var f = sv("g", { "class": "groupframe", id: "frame-" + g.path, tabindex: "0" });
      f.appendChild(sv("rect", { x: x0 - 8, y: y0 - 18, width: x1 - x0 + 16, height: y1 - y0 + 26, rx: 8 }));
      f.appendChild(sv("text", { "class": "gl", x: x0 - 4, y: y0 - 6 }, groupLabel(g) + " ▾"));
      f.addEventListener("click", function () { collapsed[g.path] = true; redraw(); });
      svg.appendChild(f);
    });
  }

  // an edge crosses each layer straight (inside its own slot, which nothing else shares) and bends
  // only in the gaps between layers
  function drawEdge(svg, p, tb, lay) {
    var ch = p.chain, pts = [];
    ch.forEach(function (it, k) {
      var a = tb ? it.x : it.y, band = lay.bands[it.layer];
      var enter = k === 0 ? null : (k === ch.length - 1 ? (tb ? it.y - it.v.shapeH / 2 - 2 : it.x - it.v.shapeW / 2 - 2) : band[0]);
      var exit = k === ch.length - 1 ? null : (k === 0 ? band[1] : band[1]);
      if (k === 0) pts.push(tb ? [a, it.y + it.v.shapeH / 2] : [it.x + it.v.shapeW / 2, a]);
      if (enter !== null) pts.push(tb ? [a, enter] : [enter, a]);
      if (exit !== null) pts.push(tb ? [a, exit] : [exit, a]);
    });
    var d = "M" + pts[0][0] + "," + pts[0][1];
    for (var k = 1; k < pts.length; k++) {
      var a = pts[k - 1], b = pts[k];
      if (a[0] === b[0] || a[1] === b[1]) { d += " L" + b[0] + "," + b[1]; continue; }
      if (tb) { var my = (a[1] + b[1]) / 2; d += " C" + a[0] + "," + my + " " + b[0] + "," + my + " " + b[0] + "," + b[1]; }
      else { var mx = (a[0] + b[0]) / 2; d += " C" + mx + "," + a[1] + " " + mx + "," + b[1] + " " + b[0] + "," + b[1]; }
    }
    var e = p.ve.e, g = sv("g", { "class": "edge", id: "edge-" + p.ve.k, "data-src": ch[0].v.id,
      "data-dst": ch[ch.length - 1].v.id });
    g.appendChild(sv("path", { d: d, "marker-end": "url(#arrow)" }));
    var gt = null, L = p.label;
    if (L) {
      var vx = tb ? L.x + 5 : L.x, anchor = tb ? "start" : "middle";
      g.appendChild(sv("text", { "class": "v label", x: vx, y: L.y - 4, "text-anchor": anchor }, e.value));
      if (e.grad) {
        gt = sv("text", { "class": "g label", x: vx, y: L.y + 12, "text-anchor": anchor }, e.grad);
        g.appendChild(gt);
      }
    }
    svg.appendChild(g);
    return { g: g, grad: gt, edge: e };
  }

  function drawNode(svg, it, tb) {
    var n = it.v, x = it.x, y = it.y, lg = null, g = sv("g", { "class": "node " + n.kind, id: "node-" + n.id });
    var bx = x - it.box.l, by = y - it.box.t;
    g.setAttribute("data-box", [bx, by, it.box.l + it.box.r, it.box.t + it.box.b].join(","));
    if (n.kind === "op") {
      if (n.shapeW > 44) g.appendChild(sv("rect", { x: x - n.shapeW / 2, y: y - 22, width: n.shapeW, height: 44, rx: 22 }));
      else g.appendChild(sv("circle", { cx: x, cy: y, r: 22 }));
      g.appendChild(sv("text", { "class": "sym label", x: x, y: y + 5, "text-anchor": "middle" }, n.label));
    } else if (n.kind === "leaf") {
      g.appendChild(sv("rect", { x: x - n.shapeW / 2, y: y - 15, width: n.shapeW, height: 30, rx: 7 }));
      g.appendChild(sv("text", { "class": "nmb label", x: x, y: y + 5, "text-anchor": "middle" }, n.label));
    } else if (n.kind === "group") {
      g.appendChild(sv("rect", { x: x - n.shapeW / 2, y: y - 20, width: n.shapeW, height: 40, rx: 10 }));
      g.appendChild(sv("text", { "class": "gname label", x: x, y: y + 5, "text-anchor": "middle" }, n.label));
      g.setAttribute("tabindex", "0");
      g.addEventListener("click", function () { collapsed[n.path] = false; redraw(); });
    } else {
      g.appendChild(sv("text", { "class": (n.kind === "output" ? "nmb" : "cst") + " label", x: x, y: y + 5,
        "text-anchor": "middle" }, n.label));
    }
    n.ann.forEach(function (text, k) {
      var cls = (n.kind === "leaf" && k === 0 ? "lg" : "nm") + " label";
      var t = tb ? sv("text", { "class": cls, x: x + n.shapeW / 2 + 6, y: y + 4 + 14 * (k - (n.ann.length - 1) / 2) })
        : sv("text", { "class": cls, x: x, y: y + n.shapeH / 2 + 13 + 14 * k, "text-anchor": "middle" });
      t.textContent = text;
      g.appendChild(t);
      if (n.kind === "leaf" && k === 0) lg = t;
    });
    svg.appendChild(g);
    return { g: g, v: n, lg: lg };
  }

  // ---- the panel ---------------------------------------------------------------------------------
  var panel = document.getElementById("panel");
  function cell(cls, text) { return el("td", { "class": cls, text: text }); }
  function dname(name) { return /^[A-Za-z_][\w.]*$/.test(name) ? name : "(" + name + ")"; }

  function introPanel() {
    panel.appendChild(el("h2", { id: "step-title", text: "forward pass done: " + data.output.name + " = " +
      fmt(data.output.value) }));
    panel.appendChild(el("p", { "class": "gate", text: "The forward pass computed every value (green, on each " +
      "edge). Press next: the backward pass visits the " + N + " nodes from the output back to the " +
      "inputs. Each node receives the upstream gradient, multiplies it by its local gradient and passes the " +
      "downstream gradients (red, on each edge) to its inputs." + (data.groups.length ? " Boxes are modules: " +
      "click one to open it." : "") }));
  }

  function stepPanel(s) {
    var expr = s.expr || s.op;
    var title = "step " + s.index + " / " + N + ": " + s.name + (expr !== s.name ? " = " + expr : "") + "   (" + s.op +
      (s.group ? ", in " + s.group : "") + ")";
    panel.appendChild(el("h2", { id: "step-title", text: title }));
    if (s.doc) panel.appendChild(el("p", { "class": "doc", text: s.op + ": " + s.doc }));
    if (s.gateText) panel.appendChild(el("p", { "class": "gate", text: s.op + " gate: " + s.gateText }));
    panel.appendChild(el("p", { "class": "up" }, el("span", { text: "value " }),
      s.value ? arrEl(s.value, "num value", "node-value") : el("span", { "class": "num value", id: "node-value",
        text: shapeText(s.shape) + " (not kept)" }),
      el("span", { text: " · upstream dL/d" + dname(s.name) + " = " }),
      arrEl(s.upstream, "num upstream", "upstream")));
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
        inp.value ? el("td", {}, arrEl(inp.value, "num value", null, 6)) : cell("num value", shapeText(inp.shape) + " not kept"),
        inp.downstream ? el("td", {}, arrEl(s.upstream, "num upstream", null, 6)) : cell("num upstream", ""),
        cell("op", inp.downstream ? (formula ? "→" : "×") : ""),
        el("td", {}, arrEl(inp.local, "num local" + (formula ? " formula" : ""), null, 6)),
        cell("op", inp.downstream ? (inp.broadcast ? "Σ=" : "=") : ""),
        inp.downstream ? el("td", {}, arrEl(inp.downstream, "num downstream", null, 6)) : cell("num downstream", "no gradient"));
      tbody.appendChild(tr);
      if (inp.broadcast) notes.push("broadcast: the gradient for " + inp.name + " was summed over axes (" +
        inp.broadcast.join(", ") + ") to shape " + shapeText(inp.shape));
      if (inp.jacobian) notes.push("∂" + dname(s.name) + "/∂" + dname(inp.name) + ": " + inp.jacobian);
    });
    panel.appendChild(table);
    notes.filter(function (t, k) { return notes.indexOf(t) === k; }).forEach(function (t) {
      panel.appendChild(el("p", { "class": "note", text: t }));
    });
    var read = s.saved.filter(function (a) { return a.read; });
    var kept = s.saved.filter(function (a) { return !a.read; });
    var st = "saved for backward: " + (read.length ? read.map(function (a) {
      return a.what + " " + shapeText(a.shape) + " " + a.dtype + " " + bytes(a.bytes); }).join(", ") +
      " = " + bytes(s.savedBytes) : "nothing (the rule needs no forward value)");
    if (kept.length) st += "; kept only for this page: " + bytes(kept.reduce(function (m, a) { return m + a.bytes; }, 0));
    panel.appendChild(el("p", { "class": "note saved", id: "saved", text: st }));
    if (s.check) {
      var ok = s.check.status === "pass", bad = s.check.status === "FAIL" || s.check.status === "error";
      panel.appendChild(el("p", { "class": "note check " + (ok ? "pass" : bad ? "fail" : "unchecked"), id: "check",
        text: "numerical check (check_graph) of this node's rule: " + s.check.status +
          (s.check.error !== null ? ", relative error " + Number(s.check.error).toExponential(1) : "") }));
    }
    if (s === data.steps[N - 1]) {  // the last step, whatever its number
      var ul = el("ul", { id: "leaf-grads" });
      var leafItem = function (l) {
        ul.appendChild(el("li", {}, el("span", { text: "dL/d" + dname(l.name) + " = " }),
          arrEl(l.grad, "num downstream"),
          l.sources.length ? el("span", { "class": "copy", text: "  (copy gate: the sum of " + l.sources.length +
            ": " + l.sources.map(function (c) { return fmt(c.grad) + " from " + c.from; }).join(" + ") + ")" }) : null));
      };
      // a long list opens on request: thousands of rows would make this step slow
      data.leaves.slice(0, LEAVES_SHOWN).forEach(leafItem);
      panel.appendChild(el("p", { "class": "note", text: "backward pass complete; the leaves' gradients:" }));
      panel.appendChild(ul);
      if (data.leaves.length > LEAVES_SHOWN) {
        var more = el("button", { type: "button", id: "all-leaves", text: "show all " + data.leaves.length + " leaves" });
        more.addEventListener("click", function () { data.leaves.slice(LEAVES_SHOWN).forEach(leafItem); more.remove(); });
        panel.appendChild(more);
      }
    }
  }

  // ---- state -------------------------------------------------------------------------------------
  function render() {
    document.getElementById("counter").textContent = cur === 0 ? "forward pass · step 0 / " + N : "step " + cur + " / " + N;
    document.getElementById("prev").disabled = cur === 0;
    document.getElementById("first").disabled = cur === 0;
    document.getElementById("next").disabled = cur === N;
    document.getElementById("last").disabled = cur === N;
    if (cur > 0) follow(stepItem[cur]);
    else if (virtual) follow(outputItem);  // where the backward pass starts
    drawn.forEach(paint);  // only what changed is written to the drawing
    panel.textContent = "";
    panel.setAttribute("data-step", String(cur));
    if (cur === 0) introPanel(); else stepPanel(data.steps[cur - 1]);
  }
  // a drawn node or edge as the current step shows it
  function paint(rec) {
    if (rec.edge) {
      var e = rec.edge, shown = cur >= Math.max(1, e.step), active = cur > 0 && (e.step === cur || e.src === "op" + cur);
      if (rec.grad && rec.shown !== shown) { rec.shown = shown; rec.grad.style.visibility = shown ? "visible" : "hidden"; }
      if (rec.active !== active) { rec.active = active; rec.g.classList.toggle("active", active); }
      return;
    }
    var v = rec.v, want = 0;
    if (v.step) want = v.step === cur ? 2 : v.step < cur ? 1 : 0;
    else if (v.steps && v.steps.length) want = v.steps.indexOf(cur) >= 0 ? 2 : v.last < cur ? 1 : 0;
    if (rec.state !== want) {
      rec.state = want;
      rec.g.classList.toggle("current", want === 2);
      rec.g.classList.toggle("done", want === 1);
    }
    if (rec.lg) {
      var vis = cur >= (leafDone[v.id] || Infinity);
      if (rec.vis !== vis) { rec.vis = vis; rec.lg.style.visibility = vis ? "visible" : "hidden"; }
    }
  }
  // keep the current node in view: the graph box scrolls to it (positions come from the layout,
  // so nothing is measured per step), and the page scrolls to the box in a short window
  function follow(it) {
    if (!it) return;
    var box = document.getElementById("graph"), s = scale;
    var x0 = (it.x - it.box.l) * s, x1 = (it.x + it.box.r) * s, y0 = (it.y - it.box.t) * s, y1 = (it.y + it.box.b) * s;
    var L = box.scrollLeft, T = box.scrollTop, W = box.clientWidth, H = box.clientHeight;
    if (x0 < L || x1 > L + W) box.scrollLeft = Math.max(0, (x0 + x1) / 2 - W / 2);
    if (y0 < T || y1 > T + H) box.scrollTop = Math.max(0, (y0 + y1) / 2 - H / 2);
    var r = box.getBoundingClientRect(), top = r.top + y0 - box.scrollTop, bottom = r.top + y1 - box.scrollTop;
    if (top < 0 || bottom > window.innerHeight) window.scrollBy(0, top < 0 ? top - 8 : bottom - window.innerHeight + 8);
    // now, not at the next scroll event: the node is drawn when the step returns (and after the
    // reads above, so that they find the layout clean)
    if (virtual) updateView();
  }
  function redraw() { draw(); render(); }
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

  function start(d) {
    stop();
    data = d;
    N = data.steps.length;
    cur = 0;
    collapsed = {}; groupByPath = {};
    (data.groups || []).forEach(function (g) { groupByPath[g.path] = g; collapsed[g.path] = true; });
    data.groups = data.groups || [];
    document.title = data.title;
    document.getElementById("title").textContent = data.title;
    document.getElementById("expression").textContent = data.expression ? data.output.name + " = " + data.expression : "";
    document.getElementById("expand").hidden = !data.groups.length;
    redraw();
  }

  document.getElementById("next").addEventListener("click", function () { stop(); go(cur + 1); });
  document.getElementById("prev").addEventListener("click", function () { stop(); go(cur - 1); });
  document.getElementById("first").addEventListener("click", function () { stop(); go(0); });
  document.getElementById("last").addEventListener("click", function () { stop(); go(N); });
  document.getElementById("play").addEventListener("click", play);
  document.getElementById("expand").addEventListener("click", function () {
    var any = data.groups.some(function (g) { return collapsed[g.path]; });
    data.groups.forEach(function (g) { collapsed[g.path] = !any; });
    redraw();
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.target && ev.target.tagName === "INPUT") return;
    if (ev.key === "ArrowRight") { stop(); go(cur + 1); }
    else if (ev.key === "ArrowLeft") { stop(); go(cur - 1); }
    else if (ev.key === "Home") { stop(); go(0); }
    else if (ev.key === "End") { stop(); go(N); }
    else if (ev.key === " ") { ev.preventDefault(); play(); }
  });
  document.getElementById("graph").addEventListener("scroll", function () {
    if (virtual && !viewPending) { viewPending = true; requestAnimationFrame(updateView); }
  });
  var lastWidth = 0, pending = null;
  window.addEventListener("resize", function () {
    if (pending !== null) clearTimeout(pending);
    pending = setTimeout(function () {
      pending = null;
      var w = document.getElementById("graph").clientWidth;
      if (w !== lastWidth) { lastWidth = w; redraw(); }
    }, 120);
  });
  // a trace file (chainrule explain --json, tr.to_json()) opened from disk: read locally, never sent
  document.getElementById("open").addEventListener("change", function (ev) {
    var f = ev.target.files && ev.target.files[0];
    if (!f) return;
    var reader = new FileReader();
    reader.onload = function () {
      var d;
      try { d = JSON.parse(reader.result); } catch (err) { d = null; }
      if (!d || d.schema !== "chainrule.trace" || d.version !== 1 || !Array.isArray(d.steps)) {
        panel.textContent = "";
        panel.appendChild(el("p", { "class": "error", id: "open-error", text: f.name + " is not a chainrule trace " +
          "(version 1); write one with chainrule explain --json or tr.to_json()" }));
        return;
      }
      start(d);
    };
    reader.readAsText(f);
  });
  var p0 = performance.now(), initial = JSON.parse(document.getElementById("trace-data").textContent);
  document.getElementById("graph").setAttribute("data-parse-ms", String(Math.round(performance.now() - p0)));
  start(initial);
  lastWidth = document.getElementById("graph").clientWidth;
})();
