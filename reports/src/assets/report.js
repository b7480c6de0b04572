// faultline run report: draws the timeline, latency, throughput and cluster plots on <canvas> from the
// columns embedded in #faultline-data (see reports/src/data.rs for their meaning). No libraries, no
// network. Every plot shares one time window, so zooming or panning one moves them all. When drawing
// is done the body gets data-status="drawn" (or "error" with the messages in #js-errors), which the
// browser test reads.
(function () {
  'use strict';
  var recordError = FaultlineErrors.record;

  var OUTCOME = ['ok', 'fail', 'info', 'never completed'];
  var COLOR = ['#3d8fd6', '#e0679a', '#f0a020', '#9aa3b2'];
  var FAULT_FILL = { partition: 'rgba(128,90,213,0.13)', kill: 'rgba(217,58,58,0.12)', pause: 'rgba(208,160,0,0.16)', 'power-loss': 'rgba(60,60,60,0.16)', corrupt: 'rgba(140,80,20,0.16)', other: 'rgba(90,110,140,0.12)' };
  var FAULT_STRIP = { partition: 'rgba(128,90,213,0.55)', kill: 'rgba(217,58,58,0.55)', pause: 'rgba(208,160,0,0.65)', 'power-loss': 'rgba(40,40,40,0.7)', corrupt: 'rgba(140,80,20,0.65)', other: 'rgba(90,110,140,0.5)' };
  var ROLE_COLOR = { down: '#c9ced8', leader: '#2d6cdf', follower: '#cfdcf3', candidate: '#f0a020', pre_candidate: '#f6c56b', precandidate: '#f6c56b' };
  var L = 72, R = 14, AXIS = 22;

  function faultFamily(kind) { return FAULT_FILL[kind] ? kind : 'other'; }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
  function fmtTime(us, step) {
    var dec = step >= 1e6 ? 0 : Math.min(6, Math.max(0, Math.ceil(-Math.log10(step / 1e6))));
    return (us / 1e6).toFixed(dec) + ' s';
  }
  function fmtDur(us) {
    if (us < 1000) return us.toFixed(0) + ' µs';
    if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + ' ms';
    return (us / 1e6).toFixed(3) + ' s';
  }
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  // First index i in sorted array arr (length n) with arr[i] >= v.
  function lowerBound(arr, v, lo, hi) {
    while (lo < hi) { var mid = (lo + hi) >> 1; if (arr[mid] < v) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function main() {
    var D = JSON.parse(document.getElementById('faultline-data').textContent);
    var O = D.ops, n = O.p.length, END = Math.max(1, D.end);
    var t0 = new Float64Array(n), t1 = new Float64Array(n);
    var acc = 0;
    for (var i = 0; i < n; i++) { acc += O.t[i]; t0[i] = acc; t1[i] = O.d[i] < 0 ? END : acc + O.d[i]; }
    // Rows: one per process, or one per client slot. A process that ended `info` retires and its slot
    // continues as process p + concurrency (the workloads' convention), so slots keep a long run with
    // many timeouts to `concurrency` rows instead of hundreds of mostly empty ones.
    var SLOTS = D.slots || 0;
    var rowMode = SLOTS > 0 && O.procs.length > SLOTS ? 'slot' : 'process';
    var rows = 0, rowOps = [], rowT0 = [], rowH = 16, rowLabel = [];
    function buildRows() {
      var slotMode = rowMode === 'slot';
      rows = slotMode ? SLOTS : O.procs.length;
      var perRow = [];
      for (var r = 0; r < rows; r++) perRow.push([]);
      for (var i = 0; i < n; i++) perRow[slotMode ? O.procs[O.p[i]] % SLOTS : O.p[i]].push(i);
      rowOps = perRow.map(function (a) { return Int32Array.from(a); });
      rowT0 = rowOps.map(function (a) { var x = new Float64Array(a.length); for (var j = 0; j < a.length; j++) x[j] = t0[a[j]]; return x; });
      rowLabel = perRow.map(function (a, r) { return slotMode ? 'slot ' + r : 'p' + O.procs[r]; });
      rowH = rows ? Math.max(2, Math.min(16, Math.floor(560 / rows))) : 16;
    }
    buildRows();
    var marked = new Uint8Array(n);
    (D.marks || []).forEach(function (m) { if (m < n) marked[m] = 1; });

    var minSpan = Math.max(20, END / 1e6);
    var view = { a: 0, b: END };
    var charts = [];
    var pending = false;
    function redraw() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; charts.forEach(function (c) { c.draw(); }); });
    }
    function setView(a, b) {
      var span = Math.max(minSpan, Math.min(END, b - a));
      if (a < 0) a = 0;
      if (a + span > END) a = END - span;
      view.a = Math.max(0, a); view.b = view.a + span;
      redraw();
      // The window is kept in the address (#t=FROM,TO in seconds) so a zoomed view can be linked to.
      var hash = view.a === 0 && view.b === END ? ' ' : '#t=' + (view.a / 1e6).toFixed(6) + ',' + (view.b / 1e6).toFixed(6);
      try { history.replaceState(null, '', hash); } catch (e) { /* some file:// settings forbid it; the view still works */ }
    }
    var m = /^#t=([0-9.]+),([0-9.]+)$/.exec(location.hash);
    if (m && +m[2] > +m[1]) { view.a = Math.max(0, +m[1] * 1e6); view.b = Math.min(END, +m[2] * 1e6); }

    var tip = document.getElementById('tip');
    function showTip(ev, html) {
      if (!html) { tip.hidden = true; return; }
      tip.innerHTML = html; tip.hidden = false;
      var x = ev.clientX + 14, y = ev.clientY + 14;
      var w = tip.offsetWidth, h = tip.offsetHeight;
      if (x + w > window.innerWidth - 8) x = ev.clientX - w - 14;
      if (y + h > window.innerHeight - 8) y = ev.clientY - h - 14;
      tip.style.left = x + 'px'; tip.style.top = y + 'px';
    }

    function opHtml(i) {
      var f = O.fs[O.f[i]], key = O.k[i] >= 0 ? O.keys[O.k[i]] : null;
      var vi = O.vi[i] >= 0 ? O.strs[O.vi[i]] : null, vo = O.vo[i] >= 0 ? O.strs[O.vo[i]] : null;
      var s = '<b>process ' + O.procs[O.p[i]] + ' · ' + esc(f) + (key !== null ? ' ' + esc(key) : '') + (vi !== null ? ' ' + esc(vi) : '') + '</b>';
      s += '\noutcome: ' + OUTCOME[O.o[i]] + (vo !== null ? ' → ' + esc(vo) : '');
      if (O.e[i] >= 0) s += '\nerror: ' + esc(O.strs[O.e[i]]);
      if (O.n[i] >= 0) s += '\nnode: ' + esc(O.nodes[O.n[i]]);
      s += '\ninvoked ' + (t0[i] / 1e6).toFixed(6) + ' s';
      s += O.d[i] >= 0 ? ', completed ' + (t1[i] / 1e6).toFixed(6) + ' s (' + fmtDur(O.d[i]) + ')' : ', never completed';
      if (marked[i]) s += '\n<b>part of a counterexample</b>';
      return s;
    }

    // A canvas whose width follows its container; `layout()` returns its CSS height.
    function makeChart(id, layout, draw, hover) {
      var canvas = document.getElementById(id);
      if (!canvas) return null;
      var chart = { canvas: canvas, w: 0, h: 0, ctx: null, drawn: 0 };
      chart.x = function (t) { return L + (t - view.a) / (view.b - view.a) * (chart.w - L - R); };
      chart.t = function (x) { return view.a + (x - L) / (chart.w - L - R) * (view.b - view.a); };
      chart.resize = function () {
        var dpr = window.devicePixelRatio || 1;
        chart.w = Math.max(320, canvas.parentElement.clientWidth);
        chart.h = layout(chart);
        canvas.style.height = chart.h + 'px';
        canvas.width = Math.round(chart.w * dpr); canvas.height = Math.round(chart.h * dpr);
        chart.ctx = canvas.getContext('2d');
        chart.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      };
      chart.draw = function () {
        var ctx = chart.ctx;
        ctx.clearRect(0, 0, chart.w, chart.h);
        chart.drawn = draw(chart, ctx) || 0;
        canvas.setAttribute('data-drawn', String(chart.drawn));
      };
      attachZoom(chart, hover);
      chart.resize();
      charts.push(chart);
      return chart;
    }

    function attachZoom(chart, hover) {
      var c = chart.canvas, drag = null;
      c.addEventListener('wheel', function (ev) {
        ev.preventDefault();
        var rect = c.getBoundingClientRect(), x = ev.clientX - rect.left;
        var at = chart.t(Math.max(L, Math.min(chart.w - R, x)));
        var k = Math.exp((ev.deltaY || 0) * 0.0018);
        setView(at - (at - view.a) * k, at + (view.b - at) * k);
      }, { passive: false });
      c.addEventListener('mousedown', function (ev) { drag = { x: ev.clientX, a: view.a, b: view.b }; c.style.cursor = 'grabbing'; });
      window.addEventListener('mouseup', function () { if (drag) { drag = null; c.style.cursor = ''; } });
      c.addEventListener('mousemove', function (ev) {
        var rect = c.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top;
        if (drag) {
          var dt = (ev.clientX - drag.x) / (chart.w - L - R) * (drag.b - drag.a);
          setView(drag.a - dt, drag.b - dt);
          showTip(ev, null);
          return;
        }
        showTip(ev, hover ? hover(chart, x, y) : null);
      });
      c.addEventListener('mouseleave', function (ev) { showTip(ev, null); });
      c.addEventListener('dblclick', function () { setView(0, END); });
    }

    function timeAxis(chart, ctx, top, bottom) {
      var pw = chart.w - L - R, span = view.b - view.a;
      var step = niceStep(span / Math.max(2, pw / 110));
      ctx.font = '11px system-ui, sans-serif'; ctx.fillStyle = '#6b7385'; ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ctx.strokeStyle = '#eceef2'; ctx.lineWidth = 1;
      ctx.beginPath();
      for (var t = Math.ceil(view.a / step) * step; t <= view.b; t += step) {
        var x = Math.round(chart.x(t)) + 0.5;
        ctx.moveTo(x, top); ctx.lineTo(x, bottom);
        ctx.fillText(fmtTime(t, step), x, bottom + 5);
      }
      ctx.stroke();
    }

    function faultBands(chart, ctx, top, bottom) {
      var x0 = L, x1 = chart.w - R;
      D.faults.forEach(function (f) {
        if (f.end < view.a || f.start > view.b) return;
        var a = Math.max(x0, chart.x(f.start)), b = Math.min(x1, chart.x(f.end));
        if (f.end === f.start) {
          ctx.fillStyle = FAULT_STRIP[faultFamily(f.kind)];
          ctx.fillRect(Math.round(a), top, 1, bottom - top);
        } else {
          ctx.fillStyle = FAULT_FILL[faultFamily(f.kind)];
          ctx.fillRect(a, top, Math.max(1, b - a), bottom - top);
        }
      });
      if (D.violation !== null && D.violation !== undefined && D.violation >= view.a && D.violation <= view.b) {
        var vx = Math.round(chart.x(D.violation)) + 0.5;
        ctx.save(); ctx.strokeStyle = '#d93a3a'; ctx.setLineDash([4, 3]); ctx.lineWidth = 1.5;
        ctx.beginPath(); ctx.moveTo(vx, top); ctx.lineTo(vx, bottom); ctx.stroke(); ctx.restore();
      }
    }

    function faultAt(chart, x) {
      var t = chart.t(x), tol = 3 / (chart.w - L - R) * (view.b - view.a), hit = [];
      D.faults.forEach(function (f) { if (t >= f.start - tol && t <= f.end + tol) hit.push(f); });
      if (!hit.length) return null;
      return hit.map(function (f) {
        return '<b>' + esc(f.label) + '</b>\n' + (f.start / 1e6).toFixed(3) + ' s → ' +
          (f.end === f.start ? 'instant' : (f.end / 1e6).toFixed(3) + ' s' + (f.healed ? '' : ' (never healed)'));
      }).join('\n');
    }

    function gutterLabel(ctx, text, y) {
      ctx.fillStyle = '#6b7385'; ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ctx.fillText(text, L - 8, y);
    }

    // --- timeline ---------------------------------------------------------------------------------
    var STRIP = 20;
    var timeline = makeChart('timeline-canvas', function () { return STRIP + Math.max(1, rows) * rowH + AXIS + 4; }, function (chart, ctx) {
      var top = STRIP, bottom = STRIP + rows * rowH;
      for (var r = 0; r < rows; r += 2) { ctx.fillStyle = '#f9fafb'; ctx.fillRect(L, top + r * rowH, chart.w - L - R, rowH); }
      faultBands(chart, ctx, 0, bottom);
      // Fault labels in the strip above the rows.
      ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle'; ctx.textAlign = 'left';
      D.faults.forEach(function (f) {
        if (f.end < view.a || f.start > view.b) return;
        var a = Math.max(L, chart.x(f.start)), b = Math.min(chart.w - R, chart.x(f.end));
        ctx.fillStyle = FAULT_STRIP[faultFamily(f.kind)];
        ctx.fillRect(a, 2, Math.max(2, b - a), STRIP - 5);
        if (b - a > 40) {
          ctx.save(); ctx.beginPath(); ctx.rect(a, 0, b - a, STRIP); ctx.clip();
          ctx.fillStyle = '#fff'; ctx.fillText(f.label, a + 4, STRIP / 2);
          ctx.restore();
        }
      });
      var drawn = 0, pad = rowH >= 6 ? 1 : 0, bh = Math.max(1, rowH - 2 * pad);
      var paths = [new Path2D(), new Path2D(), new Path2D(), new Path2D()];
      var marks = new Path2D(), anyMark = false;
      var pw = chart.w - L - R, scale = pw / (view.b - view.a);
      for (r = 0; r < rows; r++) {
        var ops = rowOps[r], ts = rowT0[r];
        var j = Math.max(0, lowerBound(ts, view.a, 0, ts.length) - 1);
        var y = top + r * rowH + pad;
        var last = [-1, -1, -1, -1];
        for (; j < ops.length; j++) {
          var i = ops[j];
          if (t0[i] > view.b) break;
          if (t1[i] < view.a) continue;
          var o = O.o[i];
          var xa = Math.max(L, L + (t0[i] - view.a) * scale), xb = Math.min(chart.w - R, L + (t1[i] - view.a) * scale);
          var w = Math.max(1, xb - xa);
          if (marked[i]) { marks.rect(xa - 1, y - 1, w + 2, bh + 2); anyMark = true; }
          if (xa + w <= last[o]) continue; // this pixel range is already painted in this colour
          paths[o].rect(xa, y, w, bh);
          last[o] = xa + w;
          drawn++;
        }
      }
      for (var o2 = 0; o2 < 4; o2++) { ctx.fillStyle = COLOR[o2]; ctx.fill(paths[o2]); }
      if (anyMark) { ctx.strokeStyle = '#d93a3a'; ctx.lineWidth = 2; ctx.stroke(marks); }
      ctx.font = '11px system-ui, sans-serif';
      var every = Math.max(1, Math.ceil(12 / rowH));
      for (r = 0; r < rows; r += every) gutterLabel(ctx, rowLabel[r], top + r * rowH + rowH / 2);
      timeAxis(chart, ctx, top, bottom);
      if (!rows) { ctx.fillStyle = '#6b7385'; ctx.textAlign = 'left'; ctx.fillText('no client operations were recorded', L + 10, top + 8); }
      return drawn;
    }, function (chart, x, y) {
      if (y < STRIP) return faultAt(chart, x);
      var r = Math.floor((y - STRIP) / rowH);
      if (r < 0 || r >= rows || x < L) return null;
      var t = chart.t(x), tol = 3 / (chart.w - L - R) * (view.b - view.a);
      var ts = rowT0[r], ops = rowOps[r];
      var j = lowerBound(ts, t + tol + 1e-9, 0, ts.length) - 1;
      for (var k = j; k >= 0 && k >= j - 2; k--) {
        var i = ops[k];
        if (t >= t0[i] - tol && t <= t1[i] + tol) return opHtml(i);
      }
      return faultAt(chart, x);
    });

    // --- latency ----------------------------------------------------------------------------------
    var minLat = Infinity, maxLat = 0;
    for (i = 0; i < n; i++) if (O.d[i] >= 0) { var l = Math.max(1, O.d[i]); if (l < minLat) minLat = l; if (l > maxLat) maxLat = l; }
    if (!isFinite(minLat)) { minLat = 1; maxLat = 1e6; }
    var lo = Math.floor(Math.log10(minLat)), hi = Math.max(lo + 1, Math.ceil(Math.log10(maxLat)));
    var LAT_TOP = 8, LAT_H = 250;
    makeChart('latency-canvas', function () { return LAT_TOP + LAT_H + AXIS + 4; }, function (chart, ctx) {
      var top = LAT_TOP, bottom = LAT_TOP + LAT_H;
      faultBands(chart, ctx, top, bottom);
      timeAxis(chart, ctx, top, bottom);
      ctx.font = '11px system-ui, sans-serif'; ctx.strokeStyle = '#eceef2';
      for (var d = lo; d <= hi; d++) {
        var yy = Math.round(bottom - (d - lo) / (hi - lo) * LAT_H) + 0.5;
        ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(chart.w - R, yy); ctx.stroke();
        gutterLabel(ctx, fmtDur(Math.pow(10, d)), yy);
      }
      var from = lowerBound(t0, view.a, 0, n), drawn = 0;
      var scale = (chart.w - L - R) / (view.b - view.a);
      var paths = [new Path2D(), new Path2D(), new Path2D()];
      // Bigger dots when there are few to see.
      var dot = n < 2000 ? 4 : 2.2;
      for (var i = from; i < n && t0[i] <= view.b; i++) {
        if (O.d[i] < 0) continue;
        var x = L + (t0[i] - view.a) * scale;
        var y = bottom - (Math.log10(Math.max(1, O.d[i])) - lo) / (hi - lo) * LAT_H;
        paths[O.o[i]].rect(x - dot / 2, y - dot / 2, dot, dot);
        drawn++;
      }
      for (var o = 0; o < 3; o++) { ctx.fillStyle = COLOR[o]; ctx.globalAlpha = 0.75; ctx.fill(paths[o]); }
      ctx.globalAlpha = 1;
      return drawn;
    }, function (chart, x, y) {
      var top = LAT_TOP, bottom = LAT_TOP + LAT_H, best = -1, bestD = 36;
      var from = lowerBound(t0, chart.t(x - 6), 0, n), to = lowerBound(t0, chart.t(x + 6), 0, n);
      for (var i = from; i < to; i++) {
        if (O.d[i] < 0) continue;
        var px = chart.x(t0[i]), py = bottom - (Math.log10(Math.max(1, O.d[i])) - lo) / (hi - lo) * LAT_H;
        var dd = (px - x) * (px - x) + (py - y) * (py - y);
        if (dd < bestD) { bestD = dd; best = i; }
      }
      if (best >= 0) return opHtml(best);
      return y >= top && y <= bottom ? faultAt(chart, x) : null;
    });

    // --- throughput -------------------------------------------------------------------------------
    var THR_TOP = 8, THR_H = 170, lastBins = null;
    makeChart('throughput-canvas', function () { return THR_TOP + THR_H + AXIS + 4; }, function (chart, ctx) {
      var top = THR_TOP, bottom = THR_TOP + THR_H, pw = chart.w - L - R;
      // Bins at least 6 px and 50 ms wide: narrower ones turn a rate into noise.
      var nb = Math.max(4, Math.min(Math.floor(pw / 6), Math.floor((view.b - view.a) / 50000))), bw = (view.b - view.a) / nb;
      var bins = [new Float64Array(nb), new Float64Array(nb), new Float64Array(nb)];
      for (var i = 0; i < n; i++) {
        if (O.d[i] < 0) continue;
        var b = Math.floor((t1[i] - view.a) / bw);
        if (b >= 0 && b < nb) bins[O.o[i]][b] += 1;
      }
      var per = 1e6 / bw, max = 1;
      for (var o = 0; o < 3; o++) for (b = 0; b < nb; b++) { bins[o][b] *= per; if (bins[o][b] > max) max = bins[o][b]; }
      lastBins = { bins: bins, nb: nb, bw: bw };
      max = niceStep(max * 1.1 / 4) * 4;
      faultBands(chart, ctx, top, bottom);
      timeAxis(chart, ctx, top, bottom);
      ctx.font = '11px system-ui, sans-serif'; ctx.strokeStyle = '#eceef2';
      for (var k = 0; k <= 4; k++) {
        var yy = Math.round(bottom - k / 4 * THR_H) + 0.5;
        ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(chart.w - R, yy); ctx.stroke();
        gutterLabel(ctx, (max * k / 4).toFixed(max >= 40 ? 0 : 1) + '/s', yy);
      }
      var drawn = 0;
      for (o = 0; o < 3; o++) {
        ctx.strokeStyle = COLOR[o]; ctx.lineWidth = 1.6; ctx.beginPath();
        for (b = 0; b < nb; b++) {
          var x = L + (b + 0.5) / nb * pw, y = bottom - bins[o][b] / max * THR_H;
          if (b === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
        }
        ctx.stroke();
        drawn += nb;
      }
      return drawn;
    }, function (chart, x) {
      if (!lastBins || x < L) return null;
      var b = Math.floor((x - L) / (chart.w - L - R) * lastBins.nb);
      if (b < 0 || b >= lastBins.nb) return null;
      var t = view.a + b * lastBins.bw;
      var s = '<b>' + (t / 1e6).toFixed(3) + ' – ' + ((t + lastBins.bw) / 1e6).toFixed(3) + ' s</b>';
      for (var o = 0; o < 3; o++) s += '\n' + OUTCOME[o] + ': ' + lastBins.bins[o][b].toFixed(1) + ' ops/s';
      var f = faultAt(chart, x);
      return f ? s + '\n' + f : s;
    });

    // --- cluster ----------------------------------------------------------------------------------
    var C = D.cluster, CROW = 24, CTOP = 4;
    makeChart('cluster-canvas', function () { return CTOP + Math.max(1, C.nodes.length) * CROW + AXIS + 4; }, function (chart, ctx) {
      var top = CTOP, bottom = CTOP + C.nodes.length * CROW, drawn = 0;
      ctx.font = '11px system-ui, sans-serif';
      C.nodes.forEach(function (name, r) { gutterLabel(ctx, name, top + r * CROW + CROW / 2); });
      C.segs.forEach(function (s) {
        if (s[2] < view.a || s[1] > view.b) return;
        var role = C.roles[s[3]];
        var a = Math.max(L, chart.x(s[1])), b = Math.min(chart.w - R, chart.x(s[2]));
        var y = top + s[0] * CROW + 3;
        ctx.fillStyle = ROLE_COLOR[role] || '#b8a6e0';
        ctx.fillRect(a, y, Math.max(1, b - a), CROW - 6);
        if (b - a > 26 && s[4] >= 0) {
          ctx.fillStyle = role === 'leader' ? '#fff' : '#394152'; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
          ctx.save(); ctx.beginPath(); ctx.rect(a, y, b - a, CROW - 6); ctx.clip();
          ctx.fillText('t' + s[4] + (role === 'leader' ? ' leader' : ''), a + 4, y + (CROW - 6) / 2);
          ctx.restore();
        }
        drawn++;
      });
      faultBands(chart, ctx, top, bottom);
      timeAxis(chart, ctx, top, bottom);
      return drawn;
    }, function (chart, x, y) {
      var r = Math.floor((y - CTOP) / CROW), t = chart.t(x);
      if (r < 0 || r >= C.nodes.length) return null;
      for (var k = 0; k < C.segs.length; k++) {
        var s = C.segs[k];
        if (s[0] === r && t >= s[1] && t <= s[2]) {
          var role = C.roles[s[3]];
          var h = '<b>' + esc(C.nodes[r]) + ': ' + esc(role) + '</b>\n' + (s[1] / 1e6).toFixed(3) + ' – ' + (s[2] / 1e6).toFixed(3) + ' s';
          if (s[4] >= 0) h += '\nterm ' + s[4] + (s[5] >= 0 ? ', leader ' + s[5] : ', no leader known') + '\ncommit ' + s[6] + ' → ' + s[7];
          var f = faultAt(chart, x);
          return f ? h + '\n' + f : h;
        }
      }
      return faultAt(chart, x);
    });

    var modeSelect = document.getElementById('row-mode');
    if (modeSelect) {
      modeSelect.value = rowMode;
      modeSelect.addEventListener('change', function () {
        rowMode = modeSelect.value === 'slot' && SLOTS > 0 ? 'slot' : 'process';
        buildRows();
        if (timeline) { timeline.resize(); timeline.draw(); }
      });
    }
    var reset = document.getElementById('reset-zoom');
    if (reset) reset.addEventListener('click', function () { setView(0, END); });
    window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); redraw(); });
    document.querySelectorAll('button[data-copy]').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var el = document.getElementById(btn.getAttribute('data-copy'));
        var text = el ? el.textContent : '';
        var done = function () { btn.textContent = 'copied'; setTimeout(function () { btn.textContent = 'copy'; }, 1500); };
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, function () { selectText(el); });
        else selectText(el);
      });
    });
    function selectText(el) { if (!el) return; var range = document.createRange(); range.selectNodeContents(el); var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range); }

    charts.forEach(function (c) { c.draw(); });
  }

  try {
    main();
    FaultlineErrors.done();
  } catch (e) {
    recordError((e && e.stack) || e);
  }
})();
