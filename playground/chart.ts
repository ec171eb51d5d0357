// A line chart on a canvas: one or more series of (x, y) points, axes scaled to the data, redrawn
// whole on every point (a few hundred points at most).
export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
}

export class LineChart {
  readonly series: Series[];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly title: string,
    series: { label: string; color: string }[],
    /** Fixed y range (accuracy: [0, 1]); otherwise from the data. */
    private readonly yRange?: [number, number],
  ) {
    this.series = series.map((s) => ({ ...s, points: [] }));
    this.draw();
  }

  add(series: number, x: number, y: number): void {
    this.series[series]!.points.push({ x, y });
    this.draw();
  }

  clear(): void {
    for (const s of this.series) s.points.length = 0;
    this.draw();
  }

  private draw(): void {
    const c = this.canvas;
    const g = c.getContext('2d');
    if (!g) return;
    const [w, h] = [c.width, c.height];
    const pad = { left: 44, right: 10, top: 20, bottom: 22 };
    g.clearRect(0, 0, w, h);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#222';
    g.fillText(this.title, pad.left, 13);
    const all = this.series.flatMap((s) => s.points);
    const xMin = all.length ? Math.min(...all.map((p) => p.x)) : 0;
    const xMax = Math.max(xMin + 1, ...all.map((p) => p.x));
    let [yMin, yMax] = this.yRange ?? [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
    if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
    if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
    const X = (x: number) => pad.left + ((x - xMin) / (xMax - xMin)) * (w - pad.left - pad.right);
    const Y = (y: number) => h - pad.bottom - ((y - yMin) / (yMax - yMin)) * (h - pad.top - pad.bottom);
    g.strokeStyle = '#bbb';
    g.beginPath();
    g.moveTo(pad.left, pad.top);
    g.lineTo(pad.left, h - pad.bottom);
    g.lineTo(w - pad.right, h - pad.bottom);
    g.stroke();
    g.fillStyle = '#555';
    g.fillText(yMax.toPrecision(3), 2, pad.top + 4);
    g.fillText(yMin.toPrecision(3), 2, h - pad.bottom);
    g.fillText(`step ${xMin}`, pad.left, h - 6);
    g.fillText(`step ${xMax}`, w - pad.right - 50, h - 6);
    this.series.forEach((s, i) => {
      g.fillStyle = s.color;
      g.fillText(s.label, pad.left + 120 + i * 90, 13);
      g.strokeStyle = s.color;
      g.lineWidth = 1.5;
      g.beginPath();
      s.points.forEach((p, j) => (j === 0 ? g.moveTo(X(p.x), Y(p.y)) : g.lineTo(X(p.x), Y(p.y))));
      if (s.points.length === 1) g.arc(X(s.points[0]!.x), Y(s.points[0]!.y), 2, 0, 2 * Math.PI);
      g.stroke();
    });
  }
}
