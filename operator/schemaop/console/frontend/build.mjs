// Builds the console's front end into ../static/ (or --out DIR): the same source and
// package-lock.json always give the same bytes (`make lint` rebuilds and compares).
//
//   npm ci --ignore-scripts && node build.mjs [--out DIR]
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf("--out");
const out = resolve(outFlag > 0 ? process.argv[outFlag + 1] : join(here, "..", "static"));
const src = join(here, "src");
const modules = join(here, "node_modules");
const swagger = join(modules, "swagger-ui-dist");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "apidocs"), { recursive: true });

const common = {
  bundle: true,
  minify: true,
  target: "es2020",
  charset: "utf8",
  legalComments: "eof",
  sourcemap: false,
  logLevel: "warning",
};

// The console: one ES module and one style sheet.
await build({ ...common, entryPoints: [join(src, "main.js")], format: "esm", outfile: join(out, "console.js") });
await build({ ...common, entryPoints: [join(src, "console.css")], outfile: join(out, "console.css") });
copyFileSync(join(src, "index.html"), join(out, "index.html"));
copyFileSync(join(src, "favicon.svg"), join(out, "favicon.svg"));

// The API documentation viewer: Swagger UI's prebuilt bundle, without its source map
// reference (the map is not shipped), and our initializer (no inline script: CSP).
const withoutSourceMap = (text) => text.replace(/\n?\/[/*]# sourceMappingURL=\S+(\s*\*\/)?\s*$/, "\n");
writeFileSync(
  join(out, "apidocs", "swagger-ui-bundle.js"),
  withoutSourceMap(readFileSync(join(swagger, "swagger-ui-bundle.js"), "utf8")),
);
// The style sheet's data: images become files beside it, so the page needs no
// img-src data: in its Content-Security-Policy.
mkdirSync(join(out, "apidocs", "img"));
const css = withoutSourceMap(readFileSync(join(swagger, "swagger-ui.css"), "utf8"));
writeFileSync(join(out, "apidocs", "swagger-ui.css"), extractDataImages(css, join(out, "apidocs", "img")));

function extractDataImages(text, dir) {
  const EXT = { "image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif" };
  let result = "";
  let at = 0;
  for (;;) {
    const start = text.indexOf("url(", at);
    if (start < 0) break;
    let i = start + 4;
    const quote = text[i] === '"' || text[i] === "'" ? text[i] : "";
    if (quote) i++;
    let value = "";
    for (; i < text.length; i++) {
      const c = text[i];
      if (quote && c === "\\") {
        value += text[++i];
        continue;
      }
      if (quote ? c === quote : c === ")") break;
      value += c;
    }
    const end = text.indexOf(")", quote ? i + 1 : i) + 1;
    const match = /^data:([^;,]+)((?:;[^;,]*)*),(.*)$/s.exec(value.trim());
    if (!match) {
      result += text.slice(at, end);
      at = end;
      continue;
    }
    const [, type, params, payload] = match;
    const bytes = params.includes(";base64")
      ? Buffer.from(payload, "base64")
      : Buffer.from(decodeURIComponent(payload), "utf8");
    const name = `${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.${EXT[type] || "bin"}`;
    writeFileSync(join(dir, name), bytes);
    result += `${text.slice(at, start)}url(img/${name})`;
    at = end;
  }
  return result + text.slice(at);
}
await build({ ...common, entryPoints: [join(src, "apidocs", "apidocs.js")], format: "iife", outfile: join(out, "apidocs", "apidocs.js") });
await build({ ...common, entryPoints: [join(src, "apidocs", "apidocs.css")], outfile: join(out, "apidocs", "apidocs.css") });
copyFileSync(join(src, "apidocs", "index.html"), join(out, "apidocs", "index.html"));

// The licenses of what the built files contain.
const licenses = ["preact", "htm", "swagger-ui-dist"].map((name) => {
  const pkg = JSON.parse(readFileSync(join(modules, name, "package.json"), "utf8"));
  const text = readFileSync(join(modules, name, "LICENSE"), "utf8").trim();
  return `${name} ${pkg.version} (${pkg.license})\n\n${text}\n`;
});
writeFileSync(join(out, "THIRD-PARTY-LICENSES.txt"), licenses.join("\n" + "-".repeat(72) + "\n\n"));
