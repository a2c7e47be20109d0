// A small SVG time-series chart (areas, lines or bars) with a hover read-out. Hand-made rather than a
// charting library: it is a few kilobytes, and it looks like the rest of the UI.
import { useEffect, useId, useMemo, useRef, useState, type PointerEvent } from "react";

export interface Series<T> {
  key: string;
  label: string;
  color: string;
  value: (point: T) => number | null;
}

interface ChartProps<T> {
  title: string;
  points: T[];
  time: (point: T) => Date;
  series: Series<T>[];
  format: (value: number) => string;
  /** Shorter labels for the y axis, when `format` is too long for it. */
  axisFormat?: (value: number) => string;
  kind?: "area" | "line" | "bar";
  height?: number;
  /** Upper bound of the y axis when known (1 for rates); otherwise the data decide. */
  max?: number;
  spanMs: number;
}

const PAD = { top: 12, right: 14, bottom: 24, left: 56 };

/** A round step for about four gridlines up to `value`: 1, 2, 2.5 or 5 times a power of ten. */
function niceStep(value: number): number {
  if (value <= 0) return 0.25;
  const rough = value / 4;
  const exponent = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / exponent;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
  return nice * exponent;
}

export function yTicks(biggest: number, max?: number): number[] {
  if (max !== undefined) return [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const step = niceStep(biggest);
  const count = Math.max(1, Math.ceil(biggest / step - 1e-9));
  return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

function timeLabel(date: Date, spanMs: number): string {
  return spanMs > 2 * 86_400_000
    ? date.toLocaleDateString(undefined, { month: "short", day: "numeric" })
    : date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function TimeSeriesChart<T>({
  title,
  points,
  time,
  series,
  format,
  axisFormat,
  kind = "area",
  height = 180,
  max,
  spanMs,
}: ChartProps<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(640);
  const [hover, setHover] = useState<number | null>(null);
  const gradientId = useId();

  useEffect(() => {
    const node = box.current;
    if (!node || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(([entry]) => entry && setWidth(Math.max(200, entry.contentRect.width)));
    observer.observe(node);
    return () => observer.disconnect();
  }, []);

  const end = points.length ? time(points[points.length - 1] as T).getTime() : Date.now();
  const start = end - spanMs;
  const innerW = width - PAD.left - PAD.right;
  const innerH = height - PAD.top - PAD.bottom;
  const ticks = useMemo(() => {
    let biggest = 0;
    for (const point of points) for (const s of series) biggest = Math.max(biggest, s.value(point) ?? 0);
    return yTicks(biggest, max);
  }, [points, series, max]);
  const top = ticks[ticks.length - 1] ?? 1;

  const x = (date: Date) => PAD.left + ((date.getTime() - start) / spanMs) * innerW;
  const y = (value: number) => PAD.top + innerH - (Math.min(value, top) / top) * innerH;
  const barWidth = Math.max(1.5, (innerW / Math.max(points.length, 1)) * 0.7);

  function path(s: Series<T>): string {
    let d = "";
    let pen = false;
    for (const point of points) {
      const value = s.value(point);
      if (value === null) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${x(time(point)).toFixed(1)},${y(value).toFixed(1)}`;
      pen = true;
    }
    return d;
  }

  /** Points with no neighbour to draw a line to: shown as dots, or they would not show at all. */
  function isolated(s: Series<T>): T[] {
    return points.filter((point, index) => {
      if (s.value(point) === null) return false;
      const before = index > 0 ? s.value(points[index - 1] as T) : null;
      const after = index < points.length - 1 ? s.value(points[index + 1] as T) : null;
      return before === null && after === null;
    });
  }

  function onMove(event: PointerEvent<SVGSVGElement>) {
    if (!points.length) return;
    const rect = event.currentTarget.getBoundingClientRect();
    const at = start + ((event.clientX - rect.left - PAD.left) / innerW) * spanMs;
    let best = 0;
    points.forEach((point, index) => {
      if (Math.abs(time(point).getTime() - at) < Math.abs(time(points[best] as T).getTime() - at)) best = index;
    });
    setHover(best);
  }

  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => new Date(start + f * spanMs));
  const hovered = hover !== null ? points[hover] : undefined;
  const summary = series
    .map((s) => {
      const last = points.length ? s.value(points[points.length - 1] as T) : null;
      return `${s.label}: latest ${last === null ? "no data" : format(last)}`;
    })
    .join("; ");

  return (
    <figure className="m-0">
      <figcaption className="sr-only">
        {title}. {summary}.
      </figcaption>
      <div ref={box} className="relative w-full min-w-0 overflow-hidden" style={{ height }}>
        <svg
          width={width}
          height={height}
          role="img"
          aria-label={`${title} chart`}
          onPointerMove={onMove}
          onPointerLeave={() => setHover(null)}
          className="absolute inset-0 block touch-none"
        >
          <defs>
            {series.map((s, index) => (
              <linearGradient key={s.key} id={`${gradientId}-${index}`} x1="0" x2="0" y1="0" y2="1">
                <stop offset="0%" stopColor={s.color} stopOpacity={0.22} />
                <stop offset="100%" stopColor={s.color} stopOpacity={0} />
              </linearGradient>
            ))}
          </defs>
          {ticks.map((tick) => (
            <g key={tick}>
              <line
                x1={PAD.left}
                x2={width - PAD.right}
                y1={y(tick)}
                y2={y(tick)}
                stroke="#eef0f4"
                strokeDasharray={tick === 0 ? undefined : "3 3"}
              />
              <text
                x={PAD.left - 8}
                y={y(tick)}
                dy="0.32em"
                textAnchor="end"
                className="fill-slate-400 text-[10px] tabular"
              >
                {(axisFormat ?? format)(tick)}
              </text>
            </g>
          ))}
          {xTicks.map((date, index) => (
            <text
              key={index}
              x={x(date)}
              y={height - 6}
              textAnchor={index === 0 ? "start" : index === 4 ? "end" : "middle"}
              className="fill-slate-400 text-[10px]"
            >
              {timeLabel(date, spanMs)}
            </text>
          ))}
          {kind === "bar"
            ? series.map((s) =>
                points.map((point, index) => {
                  const value = s.value(point);
                  if (!value) return null;
                  const cx = x(time(point));
                  return (
                    <rect
                      key={`${s.key}-${index}`}
                      x={cx - barWidth / 2}
                      y={y(value)}
                      width={barWidth}
                      height={Math.max(0.5, y(0) - y(value))}
                      rx={1}
                      fill={s.color}
                      opacity={hover === null || hover === index ? 0.9 : 0.45}
                    />
                  );
                }),
              )
            : series.map((s, index) => {
                const d = path(s);
                if (!d) return null;
                return (
                  <g key={s.key}>
                    {kind === "area" && (
                      <path
                        d={`${d}L${x(time(points[points.length - 1] as T)).toFixed(1)},${y(0)}L${x(time(points.find((p) => s.value(p) !== null) as T)).toFixed(1)},${y(0)}Z`}
                        fill={`url(#${gradientId}-${index})`}
                      />
                    )}
                    <path
                      d={d}
                      fill="none"
                      stroke={s.color}
                      strokeWidth={1.75}
                      strokeLinejoin="round"
                      strokeLinecap="round"
                    />
                    {isolated(s).map((point, i) => (
                      <circle key={i} cx={x(time(point))} cy={y(s.value(point) ?? 0)} r={2.5} fill={s.color} />
                    ))}
                  </g>
                );
              })}
          {hovered !== undefined && (
            <g pointerEvents="none">
              <line x1={x(time(hovered))} x2={x(time(hovered))} y1={PAD.top} y2={PAD.top + innerH} stroke="#cbd2dc" />
              {kind !== "bar" &&
                series.map((s) => {
                  const value = s.value(hovered);
                  return value === null ? null : (
                    <circle
                      key={s.key}
                      cx={x(time(hovered))}
                      cy={y(value)}
                      r={3.5}
                      fill="white"
                      stroke={s.color}
                      strokeWidth={2}
                    />
                  );
                })}
            </g>
          )}
        </svg>
        {hovered !== undefined && (
          <div
            className="pointer-events-none absolute top-1 z-10 min-w-32 rounded-lg bg-ink px-3 py-2 text-xs text-white shadow-lg"
            style={{ left: Math.min(Math.max(x(time(hovered)) + 10, 0), width - 150) }}
          >
            <p className="mb-1 text-slate-300">
              {time(hovered).toLocaleString(undefined, {
                month: "short",
                day: "numeric",
                hour: "2-digit",
                minute: "2-digit",
              })}
            </p>
            {series.map((s) => {
              const value = s.value(hovered);
              return (
                <p key={s.key} className="flex items-center justify-between gap-3">
                  <span className="flex items-center gap-1.5">
                    <span className="size-2 rounded-full" style={{ background: s.color }} />
                    {s.label}
                  </span>
                  <span className="font-medium tabular">{value === null ? "—" : format(value)}</span>
                </p>
              );
            })}
          </div>
        )}
      </div>
    </figure>
  );
}

export function Legend({ items }: { items: { label: string; color: string }[] }) {
  return (
    <div className="flex flex-wrap items-center gap-x-4 gap-y-1 text-xs text-slate-500">
      {items.map((item) => (
        <span key={item.label} className="inline-flex items-center gap-1.5">
          <span className="size-2 rounded-full" style={{ background: item.color }} aria-hidden="true" />
          {item.label}
        </span>
      ))}
    </div>
  );
}
