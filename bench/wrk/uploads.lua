-- POST /books/ with the cover in $COVER and the bearer token in $TOKEN, each with a
-- title of its own. Prints how many answers were successes: wrk's own figure counts
-- refusals (429 past the per-account upload limit) as requests too, and a refusal
-- costs a fraction of an upload.
--   COVER=cover.jpg TOKEN=... wrk -t1 -c64 -d10s -s bench/wrk/uploads.lua http://HOST/books/
local file = assert(io.open(os.getenv("COVER"), "rb"))
local cover = file:read("*all")
file:close()
local kind = (os.getenv("COVER"):match("%.(%w+)$") or "jpg"):lower()
if kind == "jpg" then kind = "jpeg" end
local function unique()
  local source = assert(io.open("/proc/sys/kernel/random/uuid", "r"))
  local value = source:read("*l")
  source:close()
  return value
end
local boundary = "bookshelf-bench-" .. unique()
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
  ["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
}
local function text(name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name
    .. "\"\r\n\r\n" .. value .. "\r\n"
end
local tail = text("description", "Uploaded by the benchmark") .. text("category", "science")
  .. "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"cover_image\"; "
  .. "filename=\"cover." .. kind .. "\"\r\nContent-Type: image/" .. kind .. "\r\n\r\n"
  .. cover .. "\r\n--" .. boundary .. "--\r\n"
local threads = {}
local sent = 0

function setup(thread)
  -- Titles are unique per user: every run and thread numbers its own.
  thread:set("prefix", unique())
  table.insert(threads, thread)
end

function init()
  succeeded, refused = 0, 0
end

function request()
  sent = sent + 1
  return wrk.format("POST", nil, headers, text("title", prefix .. "-" .. sent) .. tail)
end

function response(status)
  if status >= 200 and status < 300 then
    succeeded = succeeded + 1
  else
    refused = refused + 1
  end
end

function done(summary)
  local ok, no = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("succeeded")
    no = no + thread:get("refused")
  end
  io.write(string.format("succeeded %d, refused %d: %.1f uploads/s\n", ok, no,
    ok / (summary.duration / 1e6)))
end
