"""The app's stylesheet and HTML shell, inline so a wheel install needs no asset files."""

CSS = """
:root { --ink:#1d2733; --muted:#6b7785; --line:#dfe4ea; --bg:#f5f7fa; --accent:#2f6fdf;
        --bad:#c0392b; --warn:#b8860b; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--ink);
       background:var(--bg); font-size:14px; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
.top { display:flex; align-items:center; gap:24px; padding:10px 20px; background:#1d2733;
       color:white; }
.brand { font-weight:700; font-size:17px; letter-spacing:.02em; }
.top nav { display:flex; gap:4px; }
.top nav a { color:#c9d3df; padding:6px 12px; border-radius:6px; }
.top nav a.active { background:#34465a; color:white; }
.top .where { margin-left:auto; color:#9fb0c2; font-size:12px; }
.controls { display:flex; flex-wrap:wrap; gap:10px 14px; align-items:flex-end; padding:10px 20px;
            background:white; border-bottom:1px solid var(--line); }
.ctl { display:flex; flex-direction:column; gap:3px; min-width:150px; }
.ctl > span { font-size:11px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.ctl.wide { min-width:260px; }
.ctl input { height:36px; padding:0 8px; border:1px solid var(--line); border-radius:6px;
             font:inherit; width:180px; }
.problems { padding:0 20px; }
.problems .problem { margin:8px 0 0; padding:8px 12px; border-radius:6px; background:#fff6e0;
                     border:1px solid #f0d48a; color:#6b5200; }
main { padding:14px 20px 40px; }
.page-title { display:flex; align-items:baseline; gap:14px; flex-wrap:wrap; margin:4px 0 10px; }
.page-title h2 { margin:0; font-size:20px; }
.subtitle { color:var(--muted); }
.status { margin-left:auto; color:var(--muted); font-size:12px; }
.banner { margin:6px 0 12px; padding:10px 14px; border-radius:8px; border:1px solid; }
.banner.error { background:#fdecea; border-color:#f2b8b1; color:#7a1f16; }
.banner.warning { background:#fff6e0; border-color:#f0d48a; color:#6b5200; }
.banner ul { margin:6px 0; padding-left:20px; }
.banner-tail { font-size:12px; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin:0 0 12px; }
.card { background:white; border:1px solid var(--line); border-radius:8px; padding:10px 14px;
        min-width:120px; }
.card-value { font-size:20px; font-weight:600; }
.card-label { color:var(--muted); font-size:12px; margin-top:2px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(520px, 1fr)); gap:12px; }
.panel { background:white; border:1px solid var(--line); border-radius:8px; padding:8px 10px;
         position:relative; }
.panel.wide { grid-column:1 / -1; }
.panel h3 { margin:2px 4px 4px; font-size:13px; font-weight:600; }
.panel-head { display:flex; align-items:center; gap:8px; }
.stale-badge { display:none; font-size:11px; padding:1px 6px; border-radius:4px;
               background:#fdecea; color:var(--bad); border:1px solid #f2b8b1; }
.panel.stale .stale-badge { display:inline-block; }
.panel.stale .dash-graph { opacity:.45; filter:grayscale(.6); }
.section { margin-top:18px; }
.section h2 { font-size:17px; margin:0 0 8px; }
.compare-pick { display:flex; gap:14px; margin-bottom:10px; }
.compare-pick label { display:flex; align-items:center; gap:8px; min-width:300px; }
.compare-pick label > div { flex:1; }
table { border-collapse:collapse; background:white; border:1px solid var(--line);
        border-radius:8px; }
th, td { padding:6px 12px; border-bottom:1px solid var(--line); text-align:left;
         white-space:nowrap; }
table.compare td { text-align:right; font-variant-numeric:tabular-nums; }
th.rev-a { color:#2f6fdf; } th.rev-b { color:#e8702a; }
.compare-graphs { display:grid; grid-template-columns:1fr 1fr; gap:12px; margin-top:12px; }
.empty-note { color:var(--muted); padding:16px; background:white; border:1px dashed var(--line);
              border-radius:8px; }
.fleet-tools { margin:0 0 10px; }
.fleet-tools .search { width:360px; height:36px; padding:0 10px; border:1px solid var(--line);
                       border-radius:6px; font:inherit; }
table.fleet { width:100%; }
table.fleet th a { color:var(--ink); }
table.fleet th.sorted a { color:var(--accent); }
table.fleet td { font-variant-numeric:tabular-nums; }
table.fleet tr.zero td { color:var(--muted); }
td.traffic { display:flex; align-items:center; gap:10px; }
img.spark { width:120px; height:26px; }
.pager { display:flex; gap:16px; padding:10px 2px; color:var(--muted); }
table.events td.ev.scale-up { color:#2a9d5b; } table.events td.ev.scale-down { color:#e8702a; }
table.events td.ev.scale-to-zero { color:var(--bad); }
.notfound { padding:30px; }
.lt-form { display:grid; grid-template-columns:repeat(6, minmax(120px, 1fr)); gap:10px 14px;
           background:white; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.lt-field { display:flex; flex-direction:column; gap:3px; }
.lt-field.wide { grid-column:span 3; }
.lt-field > span { font-size:11px; color:var(--muted); text-transform:uppercase;
                   letter-spacing:.04em; }
.lt-field input, .lt-field textarea { height:36px; padding:0 8px; border:1px solid var(--line);
                                      border-radius:6px; font:inherit; width:100%; }
.lt-field textarea { height:auto; padding:6px 8px; resize:vertical; }
.lt-field input:invalid { border-color:var(--bad); }
.lt-buttons { display:flex; align-items:center; gap:10px; margin:12px 0; }
.lt-btn { height:36px; padding:0 20px; border-radius:6px; border:1px solid var(--line);
          font:inherit; font-weight:600; cursor:pointer; background:white; }
.lt-btn.start { background:var(--accent); border-color:var(--accent); color:white; }
.lt-btn.stop { color:var(--bad); }
.lt-btn:disabled { opacity:.45; cursor:default; }
.msg.error { color:var(--bad); } .msg.ok { color:#2a7a4b; }
.lt-bar { height:10px; background:#e6eaf0; border-radius:5px; overflow:hidden; max-width:900px; }
.lt-bar-fill { height:100%; background:var(--accent); transition:width .4s; }
.lt-bar-fill.done { background:#2a9d5b; }
.lt-counts { margin-top:6px; color:var(--muted); font-variant-numeric:tabular-nums; }
.lt-errors { margin-top:4px; color:var(--bad); }
.lt-gallery { display:flex; flex-wrap:wrap; gap:8px; min-height:20px; }
.lt-gallery img { width:128px; height:128px; object-fit:cover; border-radius:6px;
                  border:1px solid var(--line); background:white; image-rendering:pixelated; }
.lt-result-grid { display:grid; grid-template-columns:minmax(520px, auto) 1fr; gap:12px;
                  align-items:start; }
table.lt-summary td { text-align:right; font-variant-numeric:tabular-nums; }
table.lt-summary td.fact { text-align:left; white-space:normal; }
pre.lt-text { background:white; border:1px solid var(--line); border-radius:8px; padding:10px;
              overflow:auto; font-size:12px; }
"""

INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
{%metas%}
<title>{%title%}</title>
{%favicon%}
{%css%}
<style>""" + CSS + """</style>
</head>
<body>
{%app_entry%}
<footer>
{%config%}
{%scripts%}
{%renderer%}
</footer>
</body>
</html>"""
