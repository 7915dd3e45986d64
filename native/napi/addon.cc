// N-API adapter: the only file that includes N-API headers. A handful of coarse
// calls (engine lifecycle, ports, table loads, counters, conntrack pages), none
// per packet. Arguments arrive already checked by src/dataplane/dataplane.ts;
// the checks here only keep a bad call from crashing the process.
// The surface is declared once in src/dataplane/native.d.ts.
#include <napi.h>

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "eniwall/core.h"
#include "eniwall/engine.h"
#include "eniwall/flowlog.h"

namespace {

constexpr size_t kErrLen = 256;
constexpr uint32_t kMaxDumpPage = 1024;
constexpr uint32_t kFlowCtPerDrain = 131072; // conntrack deltas per drain (10 MB of records)
constexpr uint32_t kQueryWords = 8;          // see ClassifyQuery in native.d.ts

// Engine options are all required: the defaults live in one place, DEFAULT_OPTIONS in
// src/dataplane/dataplane.ts, and a missing one here is a caller's bug, not a default.
bool IsNumber(const Napi::Value &v) {
    return v.IsNumber();
}
bool IsBoolean(const Napi::Value &v) {
    return v.IsBoolean();
}
bool IsString(const Napi::Value &v) {
    return v.IsString();
}
bool IsBigInt(const Napi::Value &v) {
    return v.IsBigInt();
}

Napi::Value Required(const Napi::Object &o, const char *key, bool (*ok)(const Napi::Value &),
                     const char *type) {
    Napi::Value v = o.Get(key);
    if (ok(v)) return v;
    std::string msg = std::string("engine option ") + key + " is missing";
    if (!v.IsUndefined()) msg += std::string(" or not ") + type;
    throw Napi::TypeError::New(o.Env(), msg);
}

uint32_t ReqUint(const Napi::Object &o, const char *key) {
    double d = Required(o, key, IsNumber, "a number").As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d)))
        throw Napi::RangeError::New(o.Env(), std::string("engine option ") + key +
                                                 " must be an integer in 0..4294967295");
    return static_cast<uint32_t>(d);
}

bool ReqBool(const Napi::Object &o, const char *key) {
    return Required(o, key, IsBoolean, "a boolean").As<Napi::Boolean>().Value();
}

uint64_t ToU64(const Napi::Value &v, const char *what) {
    if (!v.IsBigInt()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a bigint");
    bool lossless = false;
    uint64_t out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(v.Env(), std::string(what) + " out of range");
    return out;
}

uint32_t ToPort(const Napi::CallbackInfo &info, size_t i) {
    if (info.Length() <= i || !info[i].IsNumber())
        throw Napi::TypeError::New(info.Env(), "port id must be a number");
    uint32_t p = info[i].As<Napi::Number>().Uint32Value();
    if (p >= EW_MAX_PORTS) throw Napi::RangeError::New(info.Env(), "port id out of range");
    return p;
}

Napi::Uint8Array ToBytes(const Napi::CallbackInfo &info, size_t i, const char *what) {
    if (info.Length() <= i || !info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Uint8Array");
    return info[i].As<Napi::Uint8Array>();
}

const char *ModeName(ew_io_mode m) {
    switch (m) {
    case EW_IO_URING:
        return "uring";
    case EW_IO_EPOLL:
        return "epoll";
    case EW_IO_AUTO:
        break;
    }
    return "auto";
}

ew_io_mode ParseMode(Napi::Env env, const Napi::Object &o) {
    std::string s = Required(o, "io", IsString, "a string").As<Napi::String>().Utf8Value();
    if (s == "auto") return EW_IO_AUTO;
    if (s == "uring") return EW_IO_URING;
    if (s == "epoll") return EW_IO_EPOLL;
    throw Napi::TypeError::New(env, "io must be 'auto', 'uring' or 'epoll'");
}

std::string AddrString(uint8_t family, const uint8_t *a) {
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, sizeof buf)) return "";
    return buf;
}

Napi::Object DumpEntry(Napi::Env env, const ew_ct_dump_entry &e) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("zone", e.zone);
    o.Set("family", e.family);
    o.Set("proto", e.proto);
    o.Set("state", e.state);
    o.Set("src", AddrString(e.family, e.src));
    o.Set("dst", AddrString(e.family, e.dst));
    o.Set("sport", e.sport);
    o.Set("dport", e.dport);
    o.Set("idleMs", e.idle_ms);
    o.Set("timeoutMs", e.timeout_ms);
    o.Set("packetsOrig", Napi::BigInt::New(env, e.packets_orig));
    o.Set("packetsReply", Napi::BigInt::New(env, e.packets_reply));
    o.Set("bytesOrig", Napi::BigInt::New(env, e.bytes_orig));
    o.Set("bytesReply", Napi::BigInt::New(env, e.bytes_reply));
    return o;
}

Napi::Value JS_trace(const Napi::CallbackInfo &info);

class Engine : public Napi::ObjectWrap<Engine> {
    friend Napi::Value JS_trace(const Napi::CallbackInfo &info);

  public:
    static Napi::FunctionReference *Define(Napi::Env env) {
        Napi::Function cls =
            DefineClass(env, "Engine",
                        {
                            InstanceMethod<&Engine::JS_openTap>("openTap"),
                            InstanceMethod<&Engine::JS_closePort>("closePort"),
                            InstanceMethod<&Engine::JS_openUnderlay>("openUnderlay"),
                            InstanceMethod<&Engine::JS_openStream>("openStream"),
                            InstanceMethod<&Engine::JS_streamStats>("streamStats"),
                            InstanceMethod<&Engine::JS_openVhostUser>("openVhostUser"),
                            InstanceMethod<&Engine::JS_loadTable>("loadTable"),
                            InstanceMethod<&Engine::JS_generation>("generation"),
                            InstanceMethod<&Engine::JS_counters>("counters"),
                            InstanceMethod<&Engine::JS_ctCount>("ctCount"),
                            InstanceMethod<&Engine::JS_ctAllowanceExceeded>("ctAllowanceExceeded"),
                            InstanceMethod<&Engine::JS_ctDump>("ctDump"),
                            InstanceMethod<&Engine::JS_flowDrain>("flowDrain"),
                            InstanceMethod<&Engine::JS_hitsDrain>("hitsDrain"),
                            InstanceMethod<&Engine::JS_advanceClock>("advanceClock"),
                            InstanceMethod<&Engine::JS_stats>("stats"),
                            InstanceMethod<&Engine::JS_workerBusyNs>("workerBusyNs"),
                            InstanceMethod<&Engine::JS_captureStart>("captureStart"),
                            InstanceMethod<&Engine::JS_captureStop>("captureStop"),
                            InstanceMethod<&Engine::JS_captureDrain>("captureDrain"),
                            InstanceMethod<&Engine::JS_close>("close"),
                        });
        return new Napi::FunctionReference(Napi::Persistent(cls));
    }

    explicit Engine(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Engine>(info) {
        Napi::Env env = info.Env();
        Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>()
                                                                 : Napi::Object::New(env);
        ew_engine_config cfg;
        std::memset(&cfg, 0, sizeof cfg);
        cfg.workers = ReqUint(o, "workers");
        cfg.io_mode = ParseMode(env, o);
        cfg.vnet_hdr = ReqBool(o, "vnetHdr");
        cfg.passthrough = ReqBool(o, "passthrough");
        cfg.sweep_budget = ReqUint(o, "sweepBudget");
        cfg.flow_table_size = ReqUint(o, "flowTableSize");
        // Room for every worker's table, plus this many conntrack deltas per drain
        // (the rest waits in conntrack for the next one).
        flow_max_ = cfg.workers * cfg.flow_table_size + kFlowCtPerDrain;
        cfg.capture_slots = ReqUint(o, "captureSlots");
        cfg.hit_ring_slots = ReqUint(o, "hitRingSlots");
        hit_max_ = cfg.workers * cfg.hit_ring_slots;
        cfg.core.conntrack_max = ReqUint(o, "conntrackMax");
        cfg.core.allowance_per_eni = ReqUint(o, "allowancePerEni");
        cfg.core.hash_salt = ToU64(Required(o, "hashSalt", IsBigInt, "a bigint"), "hashSalt");
        Napi::Value shm = o.Get("conntrackShm");
        if (shm.IsString()) {
            std::string path = shm.As<Napi::String>().Utf8Value();
            if (path.size() >= sizeof cfg.core.ct_shm_path)
                throw Napi::RangeError::New(env, "conntrackShm path too long");
            snprintf(cfg.core.ct_shm_path, sizeof cfg.core.ct_shm_path, "%s", path.c_str());
        }
        char err[kErrLen] = "";
        eng_ = ew_engine_create(&cfg, err, sizeof err);
        if (!eng_) throw Napi::Error::New(env, std::string("cannot create engine: ") + err);
    }

    ~Engine() override { Destroy(); }

  private:
    ew_engine *Live(Napi::Env env) {
        if (!eng_) throw Napi::Error::New(env, "engine is closed");
        return eng_;
    }

    void Destroy() {
        if (eng_) ew_engine_destroy(eng_);
        eng_ = nullptr;
    }

    // openTap(name, { netns?: path of a namespace file, persist?: bool, port?: number })
    Napi::Value JS_openTap(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsString())
            throw Napi::TypeError::New(env, "TAP name must be a string");
        std::string name = info[0].As<Napi::String>().Utf8Value();
        std::string netns;
        unsigned flags = 0;
        int want = -1;
        if (info.Length() > 1 && info[1].IsObject()) {
            Napi::Object o = info[1].As<Napi::Object>();
            Napi::Value ns = o.Get("netns");
            if (ns.IsString())
                netns = ns.As<Napi::String>().Utf8Value();
            else if (!ns.IsUndefined())
                throw Napi::TypeError::New(env, "netns must be a path");
            if (o.Get("persist").ToBoolean().Value()) flags |= EW_TAP_PERSIST;
            Napi::Value p = o.Get("port");
            if (p.IsNumber()) {
                double d = p.As<Napi::Number>().DoubleValue();
                if (!(d >= 0 && d < EW_MAX_PORTS) || d != (double)(uint32_t)d)
                    throw Napi::RangeError::New(env, "port out of range");
                want = (int)d;
            } else if (!p.IsUndefined())
                throw Napi::TypeError::New(env, "port must be a number");
        }
        int nsfd = -1;
        if (!netns.empty()) {
            nsfd = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
            if (nsfd < 0)
                throw Napi::Error::New(env, std::string("cannot open TAP ") + name +
                                                ": namespace " + netns + ": " + strerror(errno));
        }
        char err[kErrLen] = "", ifname[EW_IFNAME_MAX] = "";
        uint32_t port = 0;
        int rc = ew_engine_open_tap_at(Live(env), name.c_str(), nsfd, flags, want, &port, ifname,
                                       err, sizeof err);
        if (nsfd >= 0) close(nsfd);
        if (rc != 0)
            throw Napi::Error::New(env, std::string("cannot open TAP ") + name + ": " + err);
        Napi::Object o = Napi::Object::New(env);
        o.Set("port", port);
        o.Set("ifname", ifname);
        return o;
    }

    Napi::Value JS_closePort(const Napi::CallbackInfo &info) {
        uint32_t port = ToPort(info, 0);
        bool remove = info.Length() > 1 && info[1].ToBoolean().Value();
        return Napi::Boolean::New(info.Env(),
                                  ew_engine_close_port_ex(Live(info.Env()), port, remove) == 0);
    }

    // openUnderlay(addr: u32 host order, port): the overlay's UDP socket (io_underlay.h).
    Napi::Value JS_openUnderlay(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
            throw Napi::TypeError::New(env, "openUnderlay(address: u32, port: number)");
        double a = info[0].As<Napi::Number>().DoubleValue();
        double p = info[1].As<Napi::Number>().DoubleValue();
        if (!(a >= 0 && a <= 4294967295.0) || !(p >= 1 && p <= 65535))
            throw Napi::RangeError::New(env, "underlay address or port out of range");
        char err[kErrLen] = "";
        if (ew_engine_open_underlay(Live(env), static_cast<uint32_t>(a), static_cast<uint16_t>(p),
                                    err, sizeof err) != 0)
            throw Napi::Error::New(env, std::string("cannot open the underlay: ") + err);
        return Napi::Number::New(env, EW_PORT_UNDERLAY);
    }

    // openStream(path, port?: number, connect?: boolean): a QEMU stream port (io_stream.h);
    // connect: QEMU is the server and the port connects (and reconnects). Returns its port id.
    Napi::Value JS_openStream(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsString())
            throw Napi::TypeError::New(env, "QEMU socket path must be a string");
        std::string path = info[0].As<Napi::String>().Utf8Value();
        int want = -1;
        if (info.Length() > 1 && !info[1].IsUndefined()) {
            if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "port must be a number");
            double d = info[1].As<Napi::Number>().DoubleValue();
            if (!(d >= 0 && d < EW_MAX_PORTS) || d != (double)(uint32_t)d)
                throw Napi::RangeError::New(env, "port out of range");
            want = (int)d;
        }
        bool connect = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>();
        char err[kErrLen] = "";
        uint32_t port = 0;
        if (ew_engine_open_stream_mode(Live(env), path.c_str(), connect, want, &port, err,
                                       sizeof err) != 0)
            throw Napi::Error::New(env, err);
        return Napi::Number::New(env, port);
    }

    // streamStats(port): the stream port's connection counters, or null for another port.
    Napi::Value JS_streamStats(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        uint32_t port = ToPort(info, 0);
        struct ew_engine_stream_stats s;
        if (ew_engine_stream_stats(Live(env), port, &s) != 0) return env.Null();
        Napi::Object o = Napi::Object::New(env);
        o.Set("connected", Napi::Boolean::New(env, s.connected));
        o.Set("mode", Napi::String::New(env, s.connect_mode ? "connect" : "listen"));
        const std::pair<const char *, uint64_t> fields[] = {
            {"accepts", s.accepts},   {"replaced", s.replaced},
            {"resets", s.resets},     {"rxFrames", s.rx_frames},
            {"rxBytes", s.rx_bytes},  {"txFrames", s.tx_frames},
            {"txBytes", s.tx_bytes},  {"rxBadLen", s.rx_bad_len},
            {"txBusy", s.tx_busy},    {"txNoPeer", s.tx_no_peer},
            {"connects", s.connects}, {"connectRetries", s.connect_fails},
        };
        for (const auto &f : fields)
            o.Set(f.first, Napi::Number::New(env, static_cast<double>(f.second)));
        return o;
    }

    // openVhostUser(path, { port?: number }): a vhost-user socket, server mode (io_vhost.h).
    Napi::Value JS_openVhostUser(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsString())
            throw Napi::TypeError::New(env, "vhost-user path must be a string");
        std::string path = info[0].As<Napi::String>().Utf8Value();
        int want = -1;
        if (info.Length() > 1 && info[1].IsObject()) {
            Napi::Value p = info[1].As<Napi::Object>().Get("port");
            if (p.IsNumber()) {
                double d = p.As<Napi::Number>().DoubleValue();
                if (!(d >= 0 && d < EW_PORT_UNDERLAY) || d != (double)(uint32_t)d)
                    throw Napi::RangeError::New(env, "port out of range");
                want = (int)d;
            } else if (!p.IsUndefined())
                throw Napi::TypeError::New(env, "port must be a number");
        }
        char err[kErrLen] = "";
        uint32_t port = 0;
        if (ew_engine_open_vhost(Live(env), path.c_str(), want, &port, err, sizeof err) != 0)
            throw Napi::Error::New(env, std::string("cannot open vhost-user ") + path + ": " + err);
        return Napi::Number::New(env, port);
    }

    Napi::Value JS_loadTable(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Napi::Uint8Array buf = ToBytes(info, 0, "table");
        if (info.Length() < 2) throw Napi::TypeError::New(env, "generation must be a bigint");
        uint64_t gen = ToU64(info[1], "generation");
        char err[kErrLen] = "";
        if (ew_engine_load_table(Live(env), buf.Data(), buf.ByteLength(), gen, err, sizeof err) !=
            0)
            throw Napi::Error::New(env, std::string("table rejected: ") + err);
        return Napi::BigInt::New(env, ew_engine_generation(eng_));
    }

    Napi::Value JS_generation(const Napi::CallbackInfo &info) {
        return Napi::BigInt::New(info.Env(), ew_engine_generation(Live(info.Env())));
    }

    Napi::Value JS_counters(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        uint32_t port = ToPort(info, 0);
        ew_port_counters c;
        ew_engine_counters(Live(env), port, &c);
        Napi::BigUint64Array out = Napi::BigUint64Array::New(env, EW_CNT_COUNT + EW_DROP_COUNT);
        for (size_t k = 0; k < EW_CNT_COUNT; k++)
            out[k] = c.cnt[k];
        for (size_t k = 0; k < EW_DROP_COUNT; k++)
            out[EW_CNT_COUNT + k] = c.drop[k];
        return out;
    }

    ew_core *Core(Napi::Env env) {
        ew_core *core = ew_engine_core(Live(env));
        if (!core) throw Napi::Error::New(env, "no conntrack in passthrough mode");
        return core;
    }

    Napi::Value JS_ctCount(const Napi::CallbackInfo &info) {
        uint32_t port = ToPort(info, 0);
        return Napi::Number::New(info.Env(), ew_core_ct_count(Core(info.Env()), port));
    }

    Napi::Value JS_ctAllowanceExceeded(const Napi::CallbackInfo &info) {
        uint32_t port = ToPort(info, 0);
        return Napi::BigInt::New(info.Env(), ew_core_ct_allowance_exceeded(Core(info.Env()), port));
    }

    Napi::Value JS_ctDump(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 2 || !info[1].IsNumber())
            throw Napi::TypeError::New(env, "ctDump(cursor: bigint, max: number)");
        uint64_t cursor = ToU64(info[0], "cursor");
        uint32_t max = info[1].As<Napi::Number>().Uint32Value();
        if (max == 0 || max > kMaxDumpPage) max = kMaxDumpPage;
        ew_core *core = Core(env);
        static thread_local ew_ct_dump_entry page[kMaxDumpPage];
        uint32_t n = ew_core_ct_dump(core, &cursor, page, max, ew_engine_now_ms(eng_));
        Napi::Array entries = Napi::Array::New(env, n);
        for (uint32_t i = 0; i < n; i++)
            entries.Set(i, DumpEntry(env, page[i]));
        Napi::Object o = Napi::Object::New(env);
        o.Set("entries", entries);
        o.Set("cursor", Napi::BigInt::New(env, cursor));
        return o;
    }

    // One call per drain: the samples as one Buffer of struct ew_flow_sample
    // records (decoded by src/abi/flow-sample.ts) and the per-port losses as
    // [port, count, ...].
    Napi::Value JS_flowDrain(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ew_engine *eng = Live(env);
        if (flow_buf_.size() != flow_max_) flow_buf_.resize(flow_max_); // once, then reused
        std::vector<uint64_t> lost(EW_MAX_PORTS, 0);
        ew_flow_sample *buf = flow_buf_.data();
        uint32_t n = ew_engine_flow_drain(eng, buf, flow_max_, lost.data());
        Napi::Buffer<uint8_t> records = Napi::Buffer<uint8_t>::Copy(
            env, reinterpret_cast<const uint8_t *>(buf), n * sizeof(ew_flow_sample));
        Napi::Array lostArr = Napi::Array::New(env);
        uint32_t k = 0;
        for (uint32_t p = 0; p < EW_MAX_PORTS; p++) {
            if (!lost[p]) continue;
            lostArr.Set(k++, p);
            lostArr.Set(k++, static_cast<double>(lost[p]));
        }
        Napi::Object o = Napi::Object::New(env);
        o.Set("records", records);
        o.Set("lost", lostArr);
        return o;
    }

    // Rule hit records (eniwall/hits.h) as one Buffer of struct ew_hit_rec
    // (decoded by src/abi/hit-record.ts), the records lost since the last
    // drain, and the engine clock now (to date the records).
    Napi::Value JS_hitsDrain(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ew_engine *eng = Live(env);
        if (hit_buf_.size() != hit_max_) hit_buf_.resize(hit_max_); // once, then reused
        uint64_t lost = 0;
        uint32_t n = hit_max_ ? ew_engine_hits_drain(eng, hit_buf_.data(), hit_max_, &lost) : 0;
        Napi::Object o = Napi::Object::New(env);
        o.Set("records",
              Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t *>(hit_buf_.data()),
                                          n * sizeof(ew_hit_rec)));
        o.Set("lost", static_cast<double>(lost));
        o.Set("nowMs", static_cast<double>(ew_engine_now_ms(eng)));
        return o;
    }

    Napi::Value JS_advanceClock(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsNumber())
            throw Napi::TypeError::New(env, "ms must be a number");
        double ms = info[0].As<Napi::Number>().DoubleValue();
        if (!(ms >= 0)) throw Napi::RangeError::New(env, "ms must be >= 0");
        ew_engine_advance_clock(Live(env), static_cast<uint64_t>(ms));
        return env.Undefined();
    }

    Napi::Value JS_stats(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        struct ew_engine_stats s; // the function of the same name hides the tag
        ew_engine_stats(Live(env), &s);
        Napi::Object o = Napi::Object::New(env);
        o.Set("io", ModeName(s.io_mode));
        o.Set("workers", s.workers);
        o.Set("vnetHdr", s.vnet_hdr);
        o.Set("passthrough", s.passthrough);
        o.Set("fixedBuffers", s.fixed_buffers);
        o.Set("fixedFiles", s.fixed_files);
        o.Set("portsOpen", s.ports_open);
        return o;
    }

    Napi::Value JS_workerBusyNs(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        uint64_t busy[EW_MAX_WORKERS];
        uint32_t n = ew_engine_worker_busy_ns(Live(env), busy, EW_MAX_WORKERS);
        Napi::BigUint64Array out = Napi::BigUint64Array::New(env, n);
        for (uint32_t i = 0; i < n; i++)
            out[i] = busy[i];
        return out;
    }

    Napi::Value JS_captureStart(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        uint32_t port = ToPort(info, 0);
        if (info.Length() < 2 || !info[1].IsNumber())
            throw Napi::TypeError::New(env, "capture flags must be a number");
        uint32_t flags = info[1].As<Napi::Number>().Uint32Value();
        char err[kErrLen] = "";
        if (ew_engine_capture_start(Live(env), port, flags, err, sizeof err) != 0)
            throw Napi::Error::New(env, std::string("cannot start capture: ") + err);
        return env.Undefined();
    }

    Napi::Value JS_captureStop(const Napi::CallbackInfo &info) {
        uint32_t port = ToPort(info, 0);
        return Napi::Boolean::New(info.Env(), ew_engine_capture_stop(Live(info.Env()), port) == 0);
    }

    // One call per batch: every record ready (up to maxBytes) in one buffer.
    Napi::Value JS_captureDrain(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        uint32_t port = ToPort(info, 0);
        if (info.Length() < 2 || !info[1].IsNumber())
            throw Napi::TypeError::New(env, "maxBytes must be a number");
        uint32_t max = info[1].As<Napi::Number>().Uint32Value();
        if (max < 4096 || max > (64u << 20))
            throw Napi::RangeError::New(env, "maxBytes out of range");
        // Reused across calls (the JS thread is the only caller): no 1 MiB per poll.
        static thread_local std::vector<uint8_t> buf;
        if (buf.size() < max) buf.resize(max);
        size_t used = 0;
        uint64_t lost = 0;
        int n = ew_engine_capture_drain(Live(env), port, buf.data(), max, &used, &lost);
        if (n < 0) return env.Null();
        Napi::Object o = Napi::Object::New(env);
        o.Set("records", n);
        o.Set("data", Napi::Buffer<uint8_t>::Copy(env, buf.data(), used));
        o.Set("lost", Napi::Number::New(env, static_cast<double>(lost)));
        return o;
    }

    Napi::Value JS_close(const Napi::CallbackInfo &info) {
        Destroy();
        return info.Env().Undefined();
    }

    ew_engine *eng_ = nullptr;
    uint32_t flow_max_ = 0;                // records per flow drain
    std::vector<ew_flow_sample> flow_buf_; // the drain's buffer, kept between drains
    uint32_t hit_max_ = 0;                 // records per hit drain: every ring, full
    std::vector<ew_hit_rec> hit_buf_;      // the hit drain's buffer, kept between drains
};

struct AddonData {
    Napi::FunctionReference *engine_ctor;
    ~AddonData() { delete engine_ctor; }
};

Napi::Value JS_createEngine(const Napi::CallbackInfo &info) {
    auto *data = info.Env().GetInstanceData<AddonData>();
    Napi::Value opts = info.Length() > 0 ? info[0] : info.Env().Undefined();
    return data->engine_ctor->New({opts});
}

Napi::Value JS_validateTable(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Uint8Array buf = ToBytes(info, 0, "table");
    char err[kErrLen] = "";
    ew_table_view *t = ew_table_load(buf.Data(), buf.ByteLength(), err, sizeof err);
    if (!t) return Napi::String::New(env, err);
    ew_table_free(t);
    return env.Null();
}

// Query layout: kQueryWords u32 per query, see ClassifyQuery in native.d.ts.
Napi::Value JS_classifyBatch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Uint8Array table = ToBytes(info, 0, "table");
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
        throw Napi::TypeError::New(env, "queries must be a Uint32Array");
    Napi::Uint32Array q = info[1].As<Napi::Uint32Array>();
    if (q.ElementLength() % kQueryWords != 0)
        throw Napi::RangeError::New(env, "queries length must be a multiple of 8");
    char err[kErrLen] = "";
    ew_table_view *t = ew_table_load(table.Data(), table.ByteLength(), err, sizeof err);
    if (!t) throw Napi::Error::New(env, std::string("table rejected: ") + err);
    size_t n = q.ElementLength() / kQueryWords;
    Napi::Int8Array out = Napi::Int8Array::New(env, n);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *w = q.Data() + i * kQueryWords;
        uint8_t peer[16];
        for (size_t k = 0; k < 4; k++) {
            uint32_t be = htonl(w[4 + k]);
            std::memcpy(peer + 4 * k, &be, 4);
        }
        bool world = false;
        int r = ew_classify_query(t, w[0], static_cast<ew_dir>(w[1] & 0xffu),
                                  static_cast<ew_family>((w[1] >> 8) & 0xffu),
                                  static_cast<uint8_t>((w[1] >> 16) & 0xffu),
                                  static_cast<uint16_t>(w[2] & 0xffffu), peer, &world);
        out[i] = static_cast<int8_t>(r == 1 && world ? 2 : r);
    }
    ew_table_free(t);
    return out;
}

// trace(source, queries): ew_trace() for each query. source is an Engine (the
// table in force and its live conntrack) or a table buffer (loaded once, no
// conntrack). Layouts: TraceQuery / TRACE_RESULT_WORDS in native.d.ts.
constexpr uint32_t kTraceQueryWords = 12;
constexpr uint32_t kTraceResultWords = 24;

void PutTraceZone(uint32_t *w, const ew_trace_zone &z) {
    w[0] = z.eni;
    w[1] = z.port;
    w[2] = static_cast<uint32_t>(z.judged | z.reached << 1 | z.classified << 2 | z.allowed << 3 |
                                 z.world << 4 | z.ct_reply << 5) |
           static_cast<uint32_t>(z.ct) << 8 | static_cast<uint32_t>(z.ct_state) << 16 |
           static_cast<uint32_t>(z.track) << 24;
    w[3] = z.reason;
}

void PutTraceNacl(uint32_t *w, const ew_trace_nacl &n) {
    w[0] = n.nacl;
    w[1] = n.id_hi;
    w[2] = n.id_lo;
    w[3] = static_cast<uint32_t>(n.rule) | static_cast<uint32_t>(n.skip) << 16 |
           static_cast<uint32_t>(n.evaluated | n.allowed << 1 | n.reached << 2) << 24;
}

Napi::Value JS_trace(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
        throw Napi::TypeError::New(env, "trace(source, queries: Uint32Array)");
    Napi::Uint32Array q = info[1].As<Napi::Uint32Array>();
    if (q.ElementLength() % kTraceQueryWords != 0)
        throw Napi::RangeError::New(env, "queries length must be a multiple of 12");
    ew_engine *eng = nullptr;
    ew_table_view *table = nullptr;
    if (info[0].IsTypedArray()) {
        Napi::Uint8Array buf = ToBytes(info, 0, "table");
        char err[kErrLen] = "";
        table = ew_table_load(buf.Data(), buf.ByteLength(), err, sizeof err);
        if (!table) throw Napi::Error::New(env, std::string("table rejected: ") + err);
    } else {
        auto *data = env.GetInstanceData<AddonData>();
        if (!info[0].IsObject() ||
            !info[0].As<Napi::Object>().InstanceOf(data->engine_ctor->Value()))
            throw Napi::TypeError::New(env, "trace source must be an engine or a Uint8Array table");
        eng = Engine::Unwrap(info[0].As<Napi::Object>())->Live(env);
    }
    size_t n = q.ElementLength() / kTraceQueryWords;
    Napi::Uint32Array out = Napi::Uint32Array::New(env, n * kTraceResultWords);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *w = q.Data() + i * kTraceQueryWords;
        ew_trace_query tq;
        std::memset(&tq, 0, sizeof tq);
        tq.eni = w[0];
        tq.dir = static_cast<uint8_t>(w[1]);
        tq.family = static_cast<uint8_t>(w[1] >> 8);
        tq.proto = static_cast<uint8_t>(w[1] >> 16);
        tq.tcp_flags = static_cast<uint8_t>(w[1] >> 24);
        tq.icmp_type = static_cast<uint8_t>(w[2]);
        tq.icmp_code = static_cast<uint8_t>(w[2] >> 8);
        tq.sport = static_cast<uint16_t>(w[3]);
        tq.dport = static_cast<uint16_t>(w[3] >> 16);
        for (size_t k = 0; k < 4; k++) {
            uint32_t local = htonl(w[4 + k]), peer = htonl(w[8 + k]);
            std::memcpy(tq.local + 4 * k, &local, 4);
            std::memcpy(tq.peer + 4 * k, &peer, 4);
        }
        struct ew_trace tr; // the function of the same name hides the tag
        int r = eng ? ew_engine_trace(eng, &tq, &tr) : ew_trace(nullptr, table, &tq, 0, &tr);
        uint32_t *o = out.Data() + i * kTraceResultWords;
        if (r != 0) {
            o[5] = 0xffffffffu; // bad query, or no table in force
            continue;
        }
        o[0] = static_cast<uint32_t>(tr.generation);
        o[1] = static_cast<uint32_t>(tr.generation >> 32);
        o[2] = tr.sender;
        o[3] = tr.receiver;
        o[4] = tr.out_port;
        o[5] = tr.reason | static_cast<uint32_t>(tr.action) << 16 |
               static_cast<uint32_t>(tr.path) << 24;
        o[6] = static_cast<uint32_t>(tr.spoof_checked | tr.routed << 1 | tr.router << 2 |
                                     tr.service << 3 | tr.neighbor << 4);
        PutTraceZone(o + 7, tr.zone[EW_DIR_INGRESS]);
        PutTraceZone(o + 11, tr.zone[EW_DIR_EGRESS]);
        PutTraceNacl(o + 15, tr.nacl[EW_DIR_EGRESS]);
        PutTraceNacl(o + 19, tr.nacl[EW_DIR_INGRESS]);
    }
    if (table) ew_table_free(table);
    return out;
}

// SO_PEERCRED of a connected unix socket: the pid/uid/gid the kernel recorded
// for the peer at connect(), so nothing the client says. null when fd is not
// such a socket; pid 0 (peer in a pid namespace we cannot see) becomes null.
Napi::Value JS_peerCredentials(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber())
        throw Napi::TypeError::New(env, "fd must be a number");
    int fd = info[0].As<Napi::Number>().Int32Value();
    ucred cred{};
    socklen_t len = sizeof cred;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", cred.pid > 0 ? Napi::Number::New(env, cred.pid) : env.Null());
    o.Set("uid", Napi::Number::New(env, cred.uid));
    o.Set("gid", Napi::Number::New(env, cred.gid));
    return o;
}

// sd_notify(3) without libsystemd: one datagram to the unix socket named by
// NOTIFY_SOCKET (the caller passes it; '@' means the abstract namespace).
// Returns 0 on success, else the errno (a daemon not started by systemd never calls it).
Napi::Value JS_sdNotify(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
        throw Napi::TypeError::New(env, "sdNotify(socketPath, message) takes two strings");
    std::string where = info[0].As<Napi::String>().Utf8Value();
    std::string message = info[1].As<Napi::String>().Utf8Value();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (where.size() < 2 || where.size() >= sizeof addr.sun_path ||
        (where[0] != '/' && where[0] != '@'))
        return Napi::Number::New(env, EINVAL);
    std::memcpy(addr.sun_path, where.data(), where.size());
    if (where[0] == '@') addr.sun_path[0] = '\0';
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + where.size());
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Napi::Number::New(env, errno);
    ssize_t sent = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                          reinterpret_cast<const sockaddr *>(&addr), len);
    int err = sent < 0 ? errno : (static_cast<size_t>(sent) == message.size() ? 0 : EMSGSIZE);
    close(fd);
    return Napi::Number::New(env, err);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    auto *data = new AddonData{Engine::Define(env)};
    env.SetInstanceData<AddonData>(data);
    exports.Set("createEngine", Napi::Function::New<JS_createEngine>(env, "createEngine"));
    exports.Set("validateTable", Napi::Function::New<JS_validateTable>(env, "validateTable"));
    exports.Set("classifyBatch", Napi::Function::New<JS_classifyBatch>(env, "classifyBatch"));
    exports.Set("trace", Napi::Function::New<JS_trace>(env, "trace"));
    exports.Set("peerCredentials", Napi::Function::New<JS_peerCredentials>(env, "peerCredentials"));
    exports.Set("sdNotify", Napi::Function::New<JS_sdNotify>(env, "sdNotify"));
    exports.Set("maxPorts", Napi::Number::New(env, EW_MAX_PORTS));
    exports.Set("counterCount", Napi::Number::New(env, EW_CNT_COUNT));
    exports.Set("dropCount", Napi::Number::New(env, EW_DROP_COUNT));
    return exports;
}

} // namespace

NODE_API_MODULE(eniwall, Init)
