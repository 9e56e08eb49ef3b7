import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

import org.flowable.common.engine.api.FlowableException;
import org.flowable.common.engine.api.FlowableOptimisticLockingException;
import org.flowable.common.engine.impl.AbstractEngineConfiguration;
import org.flowable.engine.ProcessEngine;
import org.flowable.engine.ProcessEngineConfiguration;
import org.flowable.engine.RuntimeService;
import org.flowable.engine.TaskService;
import org.flowable.engine.impl.cfg.StandaloneProcessEngineConfiguration;
import org.flowable.task.api.Task;

/**
 * The Flowable peer of `make bench`: an embedded Flowable 7 engine on the project's
 * PostgreSQL server, in a database of its own created for the run and dropped after it,
 * running the interlinked birth chain (lien-thong-khai-sinh.bpmn20.xml) with N client
 * threads:
 *
 * <ol>
 *   <li>start: process instances started per second, each thread back to back;
 *   <li>tasks: each thread is an official of one commune: it lists its unit's unclaimed
 *       birth-registration tasks (a page of 50, in random order), claims and completes
 *       each one (a task another thread claimed first is skipped), then claims and
 *       completes the two tasks that follow (residence, by the commune police; the health
 *       insurance card, by social insurance): tasks completed per second;
 *   <li>timers: every open timer (steps not worked, the dossiers' deadlines) is made due at
 *       once, as if the clock had passed the allotments; timers fired per second by the
 *       engine's async executor, until none is left.
 * </ol>
 *
 * Prints one JSON object on stdout. The engine and its clients share this JVM, whose CPU
 * time (from /proc/self/stat) is reported per phase.
 *
 * <p>Usage: java -cp ... FlowableBench BPMN_FILE (settings from the environment:
 * DATABASE_URL, BENCH_CLIENTS, BENCH_WARMUP_SECONDS, BENCH_START_SECONDS,
 * BENCH_TASK_SECONDS, BENCH_TIMER_TIMEOUT_SECONDS).
 */
public final class FlowableBench {
    static final String[] COMMUNES = {"000.01.01.H99", "000.02.01.H99", "000.01.02.H99", "000.02.02.H99"};
    static final String[] POLICE = {"CA0.01.01.H99", "CA0.02.01.H99", "CA0.01.02.H99", "CA0.02.02.H99"};
    static final String[] SOCIAL_INSURANCE = {"BH0.00.01.H99", "BH0.00.01.H99", "BH0.00.02.H99", "BH0.00.02.H99"};
    // Allotments of procedure 1.012601 in working hours: khai sinh 8, residence 16,
    // health insurance 16, the whole dossier 24. One working hour is an hour of the clock
    // here, so no timer falls due during phases 1 and 2; phase 3 moves them all to now.
    static final Map<String, Object> ALLOTMENTS = Map.of(
            "allotKhaiSinh", "PT8H", "allotThuongTru", "PT16H", "allotBhyt", "PT16H", "allotDossier", "PT24H");

    public static void main(String[] args) throws Exception {
        Path bpmn = Path.of(args[0]);
        int clients = intEnv("BENCH_CLIENTS", 8);
        double startSeconds = doubleEnv("BENCH_START_SECONDS", 10);
        double taskSeconds = doubleEnv("BENCH_TASK_SECONDS", 10);
        double warmupSeconds = doubleEnv("BENCH_WARMUP_SECONDS", 5);
        double timerTimeout = doubleEnv("BENCH_TIMER_TIMEOUT_SECONDS", 120);
        Db db = Db.parse(System.getenv().getOrDefault(
                "DATABASE_URL", "postgresql://onestop:onestop@127.0.0.1:55432/onestop"));
        String database = "flowable_bench_" + UUID.randomUUID().toString().replace("-", "").substring(0, 10);

        Map<String, Object> report = new LinkedHashMap<>();
        report.put("engine", "Flowable " + ProcessEngine.class.getPackage().getImplementationVersion());
        report.put("java", System.getProperty("java.version"));
        report.put("clients", clients);
        report.put("database", database);
        try (Connection admin = db.connect(db.database)) {
            exec(admin, "CREATE DATABASE " + database);
        }
        ProcessEngine engine = null;
        try {
            long t0 = System.nanoTime();
            engine = configure(db, database).buildProcessEngine();
            report.put("schema_create_s", round((System.nanoTime() - t0) / 1e9, 1));
            engine.getRepositoryService().createDeployment()
                    .addBytes("lien-thong-khai-sinh.bpmn20.xml", Files.readAllBytes(bpmn)).deploy();

            // Warm-up (not reported): class loading, the JIT, the engine's caches. Python
            // services are measured warm too (after their readiness checks and a first call).
            startPhase(engine.getRuntimeService(), clients, warmupSeconds);
            taskPhase(engine.getTaskService(), clients, warmupSeconds);
            report.put("warmup_s", warmupSeconds);
            report.put("start", startPhase(engine.getRuntimeService(), clients, startSeconds));
            report.put("tasks", taskPhase(engine.getTaskService(), clients, taskSeconds));
            try (Connection conn = db.connect(database)) {
                report.put("timers", timerPhase(conn, timerTimeout));
            }
        } finally {
            if (engine != null) {
                engine.close();
            }
            try (Connection admin = db.connect(db.database)) {
                exec(admin, "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
            }
        }
        System.out.println(Json.write(report));
    }

    static ProcessEngineConfiguration configure(Db db, String database) {
        StandaloneProcessEngineConfiguration cfg = new StandaloneProcessEngineConfiguration();
        cfg.setJdbcUrl(db.jdbcUrl(database));
        cfg.setJdbcDriver("org.postgresql.Driver");
        cfg.setJdbcUsername(db.user);
        cfg.setJdbcPassword(db.password);
        cfg.setJdbcMaxActiveConnections(20);
        cfg.setDatabaseSchemaUpdate(AbstractEngineConfiguration.DB_SCHEMA_UPDATE_TRUE);
        // History at its default level (audit), as routing keeps its audit trail.
        cfg.setAsyncExecutorActivate(true);
        // The timer loop's idle wait, as SLA's (0.2 s); the engine's default is 10 s.
        cfg.setAsyncExecutorDefaultTimerJobAcquireWaitTime(200);
        cfg.setAsyncExecutorDefaultAsyncJobAcquireWaitTime(200);
        cfg.setAsyncExecutorMaxTimerJobsPerAcquisition(512);
        cfg.setAsyncExecutorMaxAsyncJobsDuePerAcquisition(512);
        return cfg;
    }

    // --- 1. process instances started -------------------------------------------------

    static Map<String, Object> startPhase(RuntimeService runtime, int clients, double seconds) throws Exception {
        List<List<Double>> latencies = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            latencies.add(new ArrayList<>());
        }
        AtomicLong failures = new AtomicLong();
        AtomicLong conflicts = new AtomicLong();
        Phase phase = Phase.run(clients, seconds, (client) -> {
            Map<String, Object> vars = new HashMap<>(ALLOTMENTS);
            vars.put("commune", COMMUNES[client % COMMUNES.length]);
            vars.put("police", POLICE[client % POLICE.length]);
            vars.put("socialInsurance", SOCIAL_INSURANCE[client % SOCIAL_INSURANCE.length]);
            long began = System.nanoTime();
            try {
                runtime.startProcessInstanceByKey("lienThongKhaiSinh", "KS-" + UUID.randomUUID(), vars);
                latencies.get(client).add((System.nanoTime() - began) / 1e6);
            } catch (RuntimeException e) {
                if (conflict(e)) { // rolled back whole: the next turn starts another
                    conflicts.incrementAndGet();
                } else if (e instanceof FlowableException) {
                    failures.incrementAndGet();
                } else {
                    throw e;
                }
            }
        });
        List<Double> all = new ArrayList<>();
        latencies.forEach(all::addAll);
        Collections.sort(all);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("instances_started", all.size());
        out.put("failures", failures.get());
        out.put("conflicts", conflicts.get());
        out.put("seconds", round(phase.seconds, 2));
        out.put("instances_started_per_s", round(all.size() / phase.seconds, 1));
        out.put("p50_ms", pct(all, 50));
        out.put("p99_ms", pct(all, 99));
        out.put("jvm_cpu_s", round(phase.cpuSeconds, 2));
        out.put("jvm_cpu_share_of_machine", round(phase.cpuShare(), 3));
        return out;
    }

    // --- 2. tasks claimed and completed -----------------------------------------------

    static Map<String, Object> taskPhase(TaskService tasks, int clients, double seconds) throws Exception {
        AtomicLong completed = new AtomicLong();
        AtomicLong conflicts = new AtomicLong();
        AtomicLong chains = new AtomicLong();
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        Phase phase = Phase.run(clients, seconds, (client) -> {
            String commune = COMMUNES[client % COMMUNES.length];
            List<Task> page = tasks.createTaskQuery().taskCandidateGroup(commune).taskUnassigned()
                    .taskDefinitionKey("khai_sinh").listPage(0, 50);
            if (page.isEmpty()) {
                sleep(20);
                return;
            }
            page = new ArrayList<>(page);
            Collections.shuffle(page, ThreadLocalRandom.current());
            for (Task task : page) {
                if (System.nanoTime() > deadline) {
                    return;
                }
                try {
                    tasks.claim(task.getId(), "canbo@" + commune);
                } catch (RuntimeException e) { // claimed by a colleague first, or gone
                    if (!(e instanceof FlowableException) && !conflict(e)) {
                        throw e;
                    }
                    conflicts.incrementAndGet();
                    continue;
                }
                if (!complete(tasks, task.getId(), conflicts)) {
                    continue;
                }
                completed.incrementAndGet();
                // The two units that follow, each claiming and completing its own task.
                for (Task next : tasks.createTaskQuery().processInstanceId(task.getProcessInstanceId()).list()) {
                    String unit = next.getTaskDefinitionKey().equals("thuong_tru")
                            ? POLICE[client % POLICE.length] : SOCIAL_INSURANCE[client % SOCIAL_INSURANCE.length];
                    claimAndComplete(tasks, next.getId(), "canbo@" + unit, conflicts);
                    completed.incrementAndGet();
                }
                chains.incrementAndGet();
            }
        });
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tasks_completed", completed.get());
        out.put("chains_completed", chains.get());
        out.put("claim_conflicts", conflicts.get());
        out.put("seconds", round(phase.seconds, 2));
        out.put("tasks_completed_per_s", round(completed.get() / phase.seconds, 1));
        out.put("jvm_cpu_s", round(phase.cpuSeconds, 2));
        out.put("jvm_cpu_share_of_machine", round(phase.cpuShare(), 3));
        return out;
    }

    /**
     * Completes a claimed task, again after a conflict (at most 5 times); false when it
     * could not be done: a timer moved the instance on meanwhile, or the conflicts went on.
     */
    static boolean complete(TaskService tasks, String id, AtomicLong conflicts) {
        for (int attempt = 0; ; attempt++) {
            try {
                tasks.complete(id);
                return true;
            } catch (RuntimeException e) {
                if (!conflict(e)) {
                    throw e;
                }
                conflicts.incrementAndGet();
                if (e instanceof FlowableOptimisticLockingException || attempt >= 5) {
                    return false; // a timer fired on it meanwhile: left to the engine
                }
            }
        }
    }

    /**
     * A command the database or the engine rolled back whole for a clash with another
     * client (PostgreSQL's deadlock or serialisation failure, Flowable's optimistic lock):
     * nothing of it was kept, so trying again is safe. Under 8 clients PostgreSQL now and
     * then picks one of Flowable's transactions as a deadlock victim.
     */
    static boolean conflict(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof FlowableOptimisticLockingException) {
                return true;
            }
            if (c instanceof java.sql.SQLException sql
                    && ("40P01".equals(sql.getSQLState()) || "40001".equals(sql.getSQLState()))) {
                return true;
            }
        }
        return false;
    }

    static void claimAndComplete(TaskService tasks, String id, String user, AtomicLong conflicts) {
        for (int attempt = 0; ; attempt++) {
            try {
                tasks.claim(id, user);
                tasks.complete(id);
                return;
            } catch (RuntimeException e) { // the sibling branch joined at once, or a deadlock
                if (!conflict(e)) {
                    throw e;
                }
                conflicts.incrementAndGet();
                if (attempt >= 5) {
                    return; // counted as a conflict: the instance is left to its timers
                }
                try {
                    tasks.unclaim(id);
                } catch (FlowableException gone) { // completed or moved on meanwhile
                    return;
                }
            }
        }
    }

    // --- 3. timers fired --------------------------------------------------------------

    static Map<String, Object> timerPhase(Connection conn, double timeoutSeconds) throws Exception {
        conn.setAutoCommit(true);
        long open = count(conn, "SELECT count(*) FROM act_ru_timer_job");
        double cpuBefore = Phase.cpu();
        long t0 = System.currentTimeMillis();
        // The clock passes every allotment: each open timer is due now.
        exec(conn, "UPDATE act_ru_timer_job SET duedate_ = now() - interval '1 second'");
        Timestamp due = new Timestamp(t0);
        long remaining = open;
        long deadline = t0 + (long) (timeoutSeconds * 1000);
        while (remaining > 0 && System.currentTimeMillis() < deadline) {
            sleep(50);
            remaining = count(conn, "SELECT count(*) FROM act_ru_timer_job")
                    + count(conn, "SELECT count(*) FROM act_ru_job");
        }
        double seconds = (System.currentTimeMillis() - t0) / 1000.0;
        long fired = open - remaining;
        long overdue = count(conn, "SELECT count(*) FROM act_ru_variable WHERE name_ LIKE 'overdue_%'");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("open_timers", open);
        out.put("timers_fired", fired);
        out.put("overdue_marks", overdue);
        out.put("dead_letter_jobs", count(conn, "SELECT count(*) FROM act_ru_deadletter_job"));
        out.put("seconds", round(seconds, 2));
        out.put("timers_fired_per_s", round(fired / seconds, 1));
        double cpu = Phase.cpu() - cpuBefore;
        out.put("jvm_cpu_s", round(cpu, 2));
        out.put("jvm_cpu_share_of_machine", round(cpu / seconds / Runtime.getRuntime().availableProcessors(), 3));
        out.put("due_at", due.toInstant().toString());
        return out;
    }

    // --- helpers ----------------------------------------------------------------------

    /** N threads calling a body until the time is up; wall and CPU time of the whole. */
    static final class Phase {
        double seconds;
        double cpuSeconds;

        double cpuShare() {
            return cpuSeconds / seconds / Runtime.getRuntime().availableProcessors();
        }

        static Phase run(int clients, double seconds, IntConsumer body) throws InterruptedException {
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            List<Thread> threads = new ArrayList<>();
            List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
            double cpuBefore = cpu();
            long started = System.nanoTime();
            for (int i = 0; i < clients; i++) {
                final int client = i;
                Thread t = new Thread(() -> {
                    try {
                        while (System.nanoTime() < deadline) {
                            body.accept(client);
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }, "client-" + i);
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) {
                t.join();
            }
            Phase phase = new Phase();
            phase.seconds = (System.nanoTime() - started) / 1e9;
            phase.cpuSeconds = cpu() - cpuBefore;
            if (!errors.isEmpty()) {
                throw new IllegalStateException("a client thread failed", errors.get(0));
            }
            return phase;
        }

        /** utime + stime of this JVM, from /proc/self/stat (USER_HZ = 100). */
        static double cpu() {
            try {
                String stat = Files.readString(Path.of("/proc/self/stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
            } catch (Exception e) {
                return -1;
            }
        }
    }

    record Db(String host, int port, String database, String user, String password) {
        static Db parse(String url) {
            java.net.URI uri = java.net.URI.create(url.replaceFirst("^postgres(ql)?://", "http://"));
            String[] auth = uri.getUserInfo().split(":", 2);
            return new Db(uri.getHost(), uri.getPort() < 0 ? 5432 : uri.getPort(),
                    uri.getPath().replaceFirst("^/", ""), auth[0], auth.length > 1 ? auth[1] : "");
        }

        String jdbcUrl(String db) {
            return "jdbc:postgresql://" + host + ":" + port + "/" + db;
        }

        Connection connect(String db) throws Exception {
            return DriverManager.getConnection(jdbcUrl(db), user, password);
        }
    }

    static void exec(Connection conn, String sql) throws Exception {
        try (Statement st = conn.createStatement()) {
            st.execute(sql);
        }
    }

    static long count(Connection conn, String sql) throws Exception {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static Object pct(List<Double> sorted, double p) {
        if (sorted.isEmpty()) {
            return null;
        }
        int i = (int) Math.round(p / 100 * sorted.size()) - 1;
        return round(sorted.get(Math.max(0, Math.min(sorted.size() - 1, i))), 2);
    }

    static double round(double v, int places) {
        double scale = Math.pow(10, places);
        return Math.round(v * scale) / scale;
    }

    static int intEnv(String name, int fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : Integer.parseInt(v);
    }

    static double doubleEnv(String name, double fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : Double.parseDouble(v);
    }

    /** Just enough JSON for the report: maps, strings, numbers, null. */
    static final class Json {
        static String write(Object value) {
            if (value == null) {
                return "null";
            }
            if (value instanceof Map<?, ?> map) {
                StringBuilder sb = new StringBuilder("{");
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (sb.length() > 1) {
                        sb.append(',');
                    }
                    sb.append(write(String.valueOf(e.getKey()))).append(':').append(write(e.getValue()));
                }
                return sb.append('}').toString();
            }
            if (value instanceof Number n) {
                return n instanceof Double d ? String.format(Locale.ROOT, "%s", d) : n.toString();
            }
            String s = value.toString().replace("\\", "\\\\").replace("\"", "\\\"");
            return "\"" + s + "\"";
        }
    }
}
