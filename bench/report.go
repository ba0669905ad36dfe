package bench

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// seriesOps returns the operation names present in a run's series, sorted,
// "all" excluded.
func seriesOps(r *Result) []string {
	seen := map[string]bool{}
	for _, p := range r.Series {
		for name := range p.Ops {
			if name != "all" {
				seen[name] = true
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// timePlot plots one figure of every operation over time.
func timePlot(r *Result, title, ylabel string, value func(PointOp) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds (warm-up included)"
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	var args []any
	top := 0.0
	for _, name := range seriesOps(r) {
		xys := make(plotter.XYs, 0, len(r.Series))
		for _, pt := range r.Series {
			y := value(pt.Ops[name])
			top = max(top, y)
			xys = append(xys, plotter.XY{X: pt.T, Y: y})
		}
		args = append(args, name, xys)
	}
	if len(args) == 0 {
		return p, nil
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, err
	}
	p.Y.Max = top * (1.15 + 0.08*float64(len(args)/2)) // headroom for the legend
	p.Legend.Top = true
	return p, nil
}

// percentilePlot plots the latency percentiles of every operation.
func percentilePlot(r *Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = r.Name + ": latency percentiles"
	p.Y.Label.Text = "ms"
	labels := []string{"p50", "p90", "p99", "p99.9", "max"}
	p.NominalX(labels...)
	var args []any
	for _, o := range r.Ops {
		args = append(args, o.Op, percentileXYs(o.Latency))
	}
	if r.RYW != nil && r.RYW.Samples > 0 {
		args = append(args, "read-your-writes lag", percentileXYs(r.RYW.Latency))
	}
	if len(args) == 0 {
		return p, nil
	}
	p.Y.Label.Text = "ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, err
	}
	p.Legend.Top = false // bottom right: the curves rise to the right
	return p, nil
}

// percentileXYs places p50, p90, p99, p99.9 and max at x = 0..4, at least
// 1 µs so that the log scale can show them.
func percentileXYs(l Latency) plotter.XYs {
	ys := []float64{l.P50, l.P90, l.P99, l.P999, l.Max}
	xys := make(plotter.XYs, len(ys))
	for i, y := range ys {
		xys[i] = plotter.XY{X: float64(i), Y: max(y, 0.001)}
	}
	return xys
}

// svgOf renders a plot as an inline <svg> element.
func svgOf(p *plot.Plot) (template.HTML, error) {
	c := vgsvg.New(8*vg.Inch, 3.5*vg.Inch)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("bench: render svg: %w", err)
	}
	b := buf.Bytes()
	if i := bytes.Index(b, []byte("<svg")); i > 0 {
		b = b[i:] // drop the XML prolog: the element is embedded in HTML
	}
	return template.HTML(b), nil
}

type runView struct {
	*Result
	Plots []template.HTML
}

// WriteHTML writes the report as a self-contained HTML page with SVG plots
// of throughput and p99 over time and of the latency percentiles of every
// operation of every run.
func (r *Report) WriteHTML(w io.Writer) error {
	var views []runView
	for _, res := range r.Runs {
		v := runView{Result: res}
		tp, err := timePlot(res, res.Name+": throughput", "successes/s", func(o PointOp) float64 { return o.Rate })
		if err != nil {
			return err
		}
		lp, err := timePlot(res, res.Name+": p99 latency per second", "ms", func(o PointOp) float64 { return o.P99 })
		if err != nil {
			return err
		}
		pp, err := percentilePlot(res)
		if err != nil {
			return err
		}
		for _, p := range []*plot.Plot{tp, lp, pp} {
			s, err := svgOf(p)
			if err != nil {
				return err
			}
			v.Plots = append(v.Plots, s)
		}
		views = append(views, v)
	}
	return reportTmpl.Execute(w, struct {
		*Report
		Views []runView
	}{r, views})
}

// WriteHTMLFile writes the HTML report to path.
func (r *Report) WriteHTMLFile(path string) error {
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"f": func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"n": func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"met": func(b *bool) string {
		switch {
		case b == nil:
			return ""
		case *b:
			return "met"
		default:
			return "missed"
		}
	},
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}td.l,th.l{text-align:left}.met{color:#070}.missed{color:#b00}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Generated {{.Generated.Format "2006-01-02 15:04:05 MST"}} on {{.Host.Hostname}}
({{.Host.GOOS}}/{{.Host.GOARCH}}, {{.Host.NumCPU}} CPUs, GOMAXPROCS {{.Host.GOMAXPROCS}}, {{.Host.GoVersion}}).
Client and ceilings run in this process; the figures are meaningful as ratios to the ceilings.</p>
{{if .Comparisons}}<h2>Figures and their ceilings</h2>
<table><tr><th class="l">figure</th><th>value</th><th>ceiling</th><th class="l">unit</th><th>ratio</th><th>target</th><th class="l"></th></tr>
{{range .Comparisons}}<tr><td class="l">{{.Name}}</td><td>{{n .Figure}}</td><td>{{n .Ceiling}}</td><td class="l">{{.Unit}}</td><td>{{f .Ratio}}</td><td>{{if .Target}}&ge; {{f .Target}}{{end}}</td><td class="l {{met .Met}}">{{met .Met}}</td></tr>
{{end}}</table>{{end}}
{{if .Checks}}<h2>Latency targets</h2>
<table><tr><th class="l">figure</th><th>value</th><th>limit</th><th class="l">unit</th><th class="l"></th></tr>
{{range .Checks}}<tr><td class="l">{{.Name}}</td><td>{{f .Value}}</td><td>&lt; {{f .Limit}}</td><td class="l">{{.Unit}}</td><td class="l {{if .Met}}met">met{{else}}missed">missed{{end}}</td></tr>
{{end}}</table>{{end}}
{{range .Views}}<h2>{{.Name}} <small>({{.Kind}}, {{.Mode}} loop, {{.Conns}} conns{{if .Rate}}, {{n .Rate}}/s intended{{end}}, {{f .Duration}} s + {{f .Warmup}} s warm-up)</small></h2>
<p>Target {{.Target}}{{if .Workload}}; mix {{.Workload.Mix}}, {{.Workload.Pictures}} pictures (Zipf s={{f .Workload.ZipfS}}), {{.Workload.Users}} users, {{.Workload.Preload}} preloaded{{end}}{{if .Unsent}}; {{.Unsent}} send slots never reached{{end}}.</p>
<table><tr><th class="l">op</th><th>ok</th><th>ops/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th><th class="l">by status</th></tr>
{{range .Ops}}<tr><td class="l">{{.Op}}</td><td>{{.Count}}</td><td>{{n .Throughput}}</td><td>{{f .Latency.P50}}</td><td>{{f .Latency.P90}}</td><td>{{f .Latency.P99}}</td><td>{{f .Latency.P999}}</td><td>{{f .Latency.Max}}</td><td>{{.Errors}}</td><td class="l">{{range $k, $v := .ErrorsByStatus}}{{$k}}: {{$v}} {{end}}</td></tr>
{{end}}{{with .Total}}<tr><th class="l">all</th><th>{{.Count}}</th><th>{{n .Throughput}}</th><th>{{f .Latency.P50}}</th><th>{{f .Latency.P90}}</th><th>{{f .Latency.P99}}</th><th>{{f .Latency.P999}}</th><th>{{f .Latency.Max}}</th><th>{{.Errors}}</th><th></th></tr>{{end}}
</table>
{{with .RYW}}<p>Read-your-writes lag over {{.Samples}} samples ({{.Failed}} failed, {{.Dropped}} dropped):
p50 {{f .Latency.P50}} ms, p90 {{f .Latency.P90}} ms, p99 {{f .Latency.P99}} ms, p99.9 {{f .Latency.P999}} ms, max {{f .Latency.Max}} ms.</p>{{end}}
{{range .Plots}}<div>{{.}}</div>
{{end}}{{end}}
</body></html>
`))
