-- wrk script: POST the realistic Pod review to /validate.
local f = assert(io.open(os.getenv("REVIEW") or "tests/load/pod-review.json", "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  io.write(string.format("requests: %d, errors: %d\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s: %.3f ms\n", p, latency:percentile(p) / 1000))
  end
end
