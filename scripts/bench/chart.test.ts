import { describe, expect, test } from "bun:test";
import { renderChart } from "./chart.ts";

describe("the benchmark chart", () => {
  const svg = renderChart(
    [
      { label: "file registry", points: [{ leases: 0, ms: 11 }, { leases: 20_000, ms: 48 }] },
      { label: "etcd-v3, leases written by flanneld", points: [{ leases: 0, ms: 40 }, { leases: 5_000, ms: 100 }] },
    ],
    [{ label: "one put through etcd3", ms: 24 }],
  );

  test("draws one line per registry and a dashed line per floor, each named in the legend", () => {
    expect(svg.match(/<polyline /g)?.length).toBe(2);
    expect(svg.match(/stroke-dasharray/g)?.length).toBe(2); // the floor across the plot, and its legend sample
    expect(svg).toContain(">file registry</text>");
    expect(svg).toContain(">one put through etcd3 (floor)</text>");
  });

  test("puts a slower acquire higher, and the largest lease count at the right end", () => {
    const points = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
    const [file0, file20k] = points;
    expect(file20k!.y).toBeLessThan(file0!.y);
    expect(file20k!.x).toBeGreaterThan(file0!.x);
  });

  test("escapes text that is not markup", () => {
    expect(renderChart([{ label: "a <b> & c", points: [{ leases: 0, ms: 1 }] }], [])).toContain("a &lt;b&gt; &amp; c");
  });
});
