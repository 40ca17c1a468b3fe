-- The send decision, in PostgreSQL: every rule of "may this domain send
-- now?" and the counting, in one place. Odoo (outbound_send_decision(), the
-- REST API's POST .../outbound/increment, /emboux/policy) and the policy
-- service on the mail hosts (mailserver/policyd) call these functions.
--
-- Created and replaced at every install and upgrade of emboux_outbound
-- (models/emboux_send_decision.py); the suite writes
-- emboux_outbound_settings from its configuration at every start.
--
-- Concurrency: the counting is one UPDATE of the domain's counter row whose
-- WHERE holds every limit, so the counters move only when the message is
-- allowed, in the statement that checks them. Under READ COMMITTED (the
-- policy service) PostgreSQL re-checks that WHERE on the newest row version
-- when another transaction updated it first; under REPEATABLE READ (Odoo)
-- the later of two updates fails to serialize and Odoo retries the request.

CREATE TABLE IF NOT EXISTS emboux_outbound_settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    hourly_fraction_num integer NOT NULL DEFAULT 1 CHECK (hourly_fraction_num > 0),
    hourly_fraction_den integer NOT NULL DEFAULT 6 CHECK (hourly_fraction_den > 0),
    spike_max_multiplier float8 NOT NULL DEFAULT 5,
    spike_min_volume integer NOT NULL DEFAULT 100,
    history_days integer NOT NULL DEFAULT 7,
    warmup_start_cap integer NOT NULL DEFAULT 50,
    warmup_factors jsonb NOT NULL DEFAULT '{"fast": 1.8, "standard": 1.1, "conservative": 1.05}',
    bounce_rate_threshold float8 NOT NULL DEFAULT 0.005,
    complaint_rate_threshold float8 NOT NULL DEFAULT 0.001,
    guillotine_min_volume integer NOT NULL DEFAULT 200,
    written_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
INSERT INTO emboux_outbound_settings (id) VALUES (true) ON CONFLICT (id) DO NOTHING;
-- one row that never grows: planned as one row, autovacuum or not
ANALYZE emboux_outbound_settings;

-- The first limit that the counter values (month, day, hour, transfer)
-- exceed, in the order they are reported; NULL when none is.
CREATE OR REPLACE FUNCTION emboux_outbound_first_exceeded(
    monthly_limit bigint, daily_limit bigint, warmup_cap bigint, hourly_limit bigint,
    spike_allowed numeric, transfer_limit numeric,
    month_count bigint, day_count bigint, hour_count bigint, transfer_bytes numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN monthly_limit > 0 AND month_count > monthly_limit THEN 'monthly_limit'
        WHEN daily_limit > 0 AND day_count > daily_limit THEN 'daily_limit'
        WHEN warmup_cap IS NOT NULL AND day_count > warmup_cap THEN 'warmup_cap'
        WHEN hourly_limit > 0 AND hour_count > hourly_limit THEN 'hourly_limit'
        WHEN spike_allowed IS NOT NULL AND day_count > spike_allowed THEN 'spike'
        WHEN transfer_limit > 0 AND transfer_bytes > transfer_limit THEN 'transfer_limit'
    END
$$;

-- The effective tier, enforcement and verification of a linked subdomain
-- (those of its inheritance root) and that root, from the view
-- emboux_domain_effective_outbound (emboux_outbound/models/emboux_domain.py).
-- PL/pgSQL: its plan is set up only when it is called, for a domain with a
-- parent.
CREATE OR REPLACE FUNCTION emboux_outbound_inherited(
    p_domain_id integer,
    OUT tier_id integer, OUT enforcement varchar, OUT verification_status varchar,
    OUT inherited_from integer)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT e.tier_id, e.enforcement, e.verification_status, e.inherited_from
      INTO tier_id, enforcement, verification_status, inherited_from
      FROM emboux_domain_effective_outbound e
     WHERE e.domain_id = p_domain_id;
END
$$;

-- One row per domain of p_domain_ids: its status, effective verification,
-- enforcement and tier (a linked subdomain's come from its inheritance
-- root, through the view emboux_domain_effective_outbound), the effective
-- daily, monthly and hourly limits (0: none), today's warm-up cap (NULL:
-- none or over), the spike ceiling of today's volume (NULL: no check), the
-- transfer limit in bytes (0: none), and the reputation window's history
-- sums (without today's counters). Plain SQL and STABLE: PostgreSQL inlines
-- it into the statements that read it. Every node of a plan is set up at
-- each execution, run or not: the view's recursive walk, joined here, cost
-- every decision a seventh of its time, for the few domains that need it.
CREATE OR REPLACE FUNCTION emboux_outbound_limits(p_domain_ids integer[], p_today date)
RETURNS TABLE (
    domain_id integer, name varchar, status varchar, outbound_status varchar,
    verification_status varchar, enforcement varchar, inherited_from integer,
    tier_code varchar, warmup_profile varchar,
    daily_limit bigint, monthly_limit bigint, hourly_limit bigint, warmup_cap bigint,
    spike_multiplier float8, spike_allowed numeric, transfer_limit numeric,
    rep_sent bigint, rep_bounces bigint, rep_complaints bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.id, d.name::varchar, d.status::varchar, d.outbound_status::varchar,
           e.verification_status::varchar, e.enforcement::varchar, e.inherited_from,
           t.code::varchar, d.warmup_profile::varchar,
           lv.daily_limit, lv.monthly_limit,
           CASE WHEN lv.daily_limit > 0
                THEN GREATEST(1, ceil(lv.daily_limit::numeric * s.hourly_fraction_num
                                      / s.hourly_fraction_den))::bigint
                ELSE 0 END,
           CASE WHEN wu.cap IS NULL OR (lv.daily_limit > 0 AND wu.cap >= lv.daily_limit)
                THEN NULL ELSE wu.cap END,
           sp.multiplier,
           CASE WHEN sp.days > 0
                THEN GREATEST(sp.multiplier::numeric * hs.spike_sent / sp.days,
                              s.spike_min_volume)
                END,
           COALESCE(d.monthly_transfer_limit_mb, 0)::numeric * 1048576,
           hs.rep_sent, hs.rep_bounces, hs.rep_complaints
      FROM emboux_domain d
     -- a domain without a parent is its own inheritance root (the view's
     -- first branch); a linked subdomain's settings come from the view,
     -- through a function called for it only
     CROSS JOIN LATERAL (
           SELECT d.outbound_tier_id AS tier_id, d.outbound_enforcement AS enforcement,
                  d.verification_status AS verification_status,
                  NULL::integer AS inherited_from
            WHERE d.parent_id IS NULL
           UNION ALL
           SELECT i.tier_id, i.enforcement, i.verification_status, i.inherited_from
             FROM emboux_outbound_inherited(d.id) i
            WHERE d.parent_id IS NOT NULL
     ) e
      CROSS JOIN emboux_outbound_settings s
      LEFT JOIN emboux_outbound_tier t ON t.id = e.tier_id
     CROSS JOIN LATERAL (
           -- the lowest of the tier's limit, the staff cap and the
           -- customer's own cap (0: none; LEAST skips NULLs)
           SELECT COALESCE(LEAST(NULLIF(t.daily_limit, 0),
                                 NULLIF(d.outbound_daily_cap_staff, 0),
                                 NULLIF(d.outbound_daily_cap, 0)), 0)::bigint
                      AS daily_limit,
                  COALESCE(LEAST(NULLIF(t.monthly_limit, 0),
                                 NULLIF(d.outbound_monthly_cap_staff, 0),
                                 NULLIF(d.outbound_monthly_cap, 0)), 0)::bigint
                      AS monthly_limit
     ) lv
     CROSS JOIN LATERAL (
           SELECT CASE WHEN d.warmup_profile IS NULL THEN NULL
                  ELSE floor(LEAST(
                           s.warmup_start_cap * power(
                               COALESCE((s.warmup_factors ->> d.warmup_profile)::float8, 1),
                               LEAST(GREATEST(p_today - COALESCE(d.warmup_started_on,
                                                                 d.create_date::date), 0),
                                     1000)),
                           2e9))::bigint END AS cap
     ) wu
     CROSS JOIN LATERAL (
           SELECT (CASE WHEN COALESCE(d.spike_max_multiplier, 0) > 0
                        THEN d.spike_max_multiplier ELSE s.spike_max_multiplier END)::float8
                      AS multiplier,
                  LEAST(s.history_days, p_today - d.create_date::date) AS days
     ) sp
     CROSS JOIN LATERAL (
           SELECT COALESCE(sum(h.sent) FILTER (WHERE h.day < p_today), 0) AS spike_sent,
                  COALESCE(sum(h.sent) FILTER (
                      WHERE h.day >= COALESCE(d.reputation_since, h.day)), 0)::bigint
                      AS rep_sent,
                  COALESCE(sum(h.bounces) FILTER (
                      WHERE h.day >= COALESCE(d.reputation_since, h.day)), 0)::bigint
                      AS rep_bounces,
                  COALESCE(sum(h.complaints) FILTER (
                      WHERE h.day >= COALESCE(d.reputation_since, h.day)), 0)::bigint
                      AS rep_complaints
             FROM emboux_outbound_daily h
            WHERE h.domain_id = d.id AND h.day >= p_today - s.history_days
     ) hs
     WHERE d.id = ANY(p_domain_ids)
$$;

-- The missing counter rows of p_domain_ids (NULL: of every domain).
CREATE OR REPLACE FUNCTION emboux_outbound_ensure_counters(p_domain_ids integer[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO emboux_outbound_counter
           (domain_id, sent_today, sent_this_month, sent_this_hour,
            transfer_bytes, bounces_today, complaints_today, create_date, write_date)
    SELECT d.id, 0, 0, 0, 0, 0, 0, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM emboux_domain d
     WHERE (p_domain_ids IS NULL OR d.id = ANY(p_domain_ids))
       AND NOT EXISTS (SELECT 1 FROM emboux_outbound_counter c WHERE c.domain_id = d.id)
    ON CONFLICT (domain_id) DO NOTHING
$$;

-- May domain p_domain_id send p_count message(s) of p_size bytes to
-- p_recipients (normalised addresses, may be empty)? Counts them when it
-- may. Refused whatever the enforcement: suspended, unverified (the
-- effective verification), paused, guillotined, suppressed (every
-- recipient is). Over a limit (monthly, daily, warm-up cap, hourly, spike,
-- transfer) 'hard' refuses, 'soft' allows, counts and names the limit in
-- reason, 'off' allows and counts. p_now: the clock (UTC), NULL for now.
CREATE OR REPLACE FUNCTION emboux_send_decision(
    p_domain_id integer, p_count integer, p_size bigint, p_recipients text[],
    p_now timestamp DEFAULT NULL,
    OUT allowed boolean, OUT reason text, OUT suppressed_recipients text[],
    OUT sent_today integer, OUT daily_limit integer, OUT remaining_today bigint)
-- generic plans, always: planning the limits query costs several times
-- the decision; PostgreSQL's own choice kept re-planning where the
-- statistics made the generic plan look dearer
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_now timestamp := COALESCE(p_now, now() AT TIME ZONE 'UTC');
    v_hour timestamp := date_trunc('hour', v_now);
    lim record;
    v_transfer numeric;
    v_over text;
    v_ceiling bigint;
    v_counted boolean := false;
BEGIN
    IF p_count IS NULL OR p_count < 1 THEN
        RAISE EXCEPTION 'count: a positive whole number is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_size IS NULL OR p_size < 0 THEN
        RAISE EXCEPTION 'size_bytes: a non-negative whole number is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- only the columns the decision reads: PostgreSQL leaves the others
    -- out of the plan (the reputation sums, the tier's code, ...)
    SELECT l.status, l.verification_status, l.outbound_status, l.enforcement,
           l.monthly_limit, l.daily_limit, l.warmup_cap, l.hourly_limit, l.spike_allowed,
           l.transfer_limit
      INTO lim
      FROM emboux_outbound_limits(ARRAY[p_domain_id], v_now::date) l;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'domain %: no such domain', p_domain_id USING ERRCODE = 'no_data_found';
    END IF;
    daily_limit := lim.daily_limit;
    suppressed_recipients := '{}';
    IF cardinality(p_recipients) > 0 THEN
        suppressed_recipients := ARRAY(
            SELECT u.email FROM unnest(p_recipients) WITH ORDINALITY AS u(email, n)
             WHERE EXISTS (SELECT 1 FROM emboux_suppression x WHERE x.email = u.email)
             ORDER BY u.n);
    END IF;
    reason := CASE
        WHEN lim.status <> 'active' THEN 'suspended'
        WHEN lim.verification_status IS DISTINCT FROM 'verified' THEN 'unverified'
        WHEN lim.outbound_status IN ('paused', 'guillotined') THEN lim.outbound_status
        WHEN cardinality(p_recipients) > 0
             AND cardinality(suppressed_recipients) = cardinality(p_recipients)
            THEN 'suppressed'
    END;
    FOR attempt IN 1..3 LOOP
        IF reason IS NULL THEN
            UPDATE emboux_outbound_counter c
               SET sent_today = c.sent_today + p_count,
                   sent_this_month = c.sent_this_month + p_count,
                   sent_this_hour = (CASE WHEN c.hour_start = v_hour
                                         THEN c.sent_this_hour ELSE 0 END) + p_count,
                   hour_start = v_hour,
                   transfer_bytes = c.transfer_bytes + p_size
             WHERE c.domain_id = p_domain_id
               AND (lim.enforcement <> 'hard' OR emboux_outbound_first_exceeded(
                        lim.monthly_limit, lim.daily_limit, lim.warmup_cap, lim.hourly_limit,
                        lim.spike_allowed, lim.transfer_limit,
                        c.sent_this_month + p_count, c.sent_today + p_count,
                        (CASE WHEN c.hour_start = v_hour THEN c.sent_this_hour ELSE 0 END)
                            + p_count,
                        c.transfer_bytes + p_size) IS NULL)
            RETURNING c.sent_today, c.transfer_bytes,
                      emboux_outbound_first_exceeded(
                          lim.monthly_limit, lim.daily_limit, lim.warmup_cap, lim.hourly_limit,
                          lim.spike_allowed, lim.transfer_limit,
                          c.sent_this_month, c.sent_today, c.sent_this_hour, c.transfer_bytes)
                 INTO sent_today, v_transfer, reason;
            v_counted := FOUND;
        END IF;
        IF v_counted THEN
            allowed := true;
            IF lim.enforcement <> 'soft' THEN
                reason := NULL;
            END IF;
            -- the domain's "MB sent this month", moved once per MB
            IF floor(v_transfer / 1048576) > floor((v_transfer - p_size) / 1048576) THEN
                UPDATE emboux_domain d
                   SET transfer_used_mb = floor(v_transfer / 1048576)
                 WHERE d.id = p_domain_id
                   AND COALESCE(d.transfer_used_mb, 0) < floor(v_transfer / 1048576);
            END IF;
        ELSE
            allowed := false;
            SELECT c.sent_today,
                   emboux_outbound_first_exceeded(
                       lim.monthly_limit, lim.daily_limit, lim.warmup_cap, lim.hourly_limit,
                       lim.spike_allowed, lim.transfer_limit,
                       c.sent_this_month + p_count, c.sent_today + p_count,
                       (CASE WHEN c.hour_start = v_hour THEN c.sent_this_hour ELSE 0 END)
                           + p_count,
                       c.transfer_bytes + p_size)
              INTO sent_today, v_over
              FROM emboux_outbound_counter c WHERE c.domain_id = p_domain_id;
            IF NOT FOUND THEN
                -- a domain inserted without its counter row: make it, count again
                PERFORM emboux_outbound_ensure_counters(ARRAY[p_domain_id]);
                CONTINUE;
            END IF;
            reason := COALESCE(reason, v_over);
            IF reason IS NULL THEN
                -- refused, but this snapshot sees no limit exceeded (a reset
                -- ran meanwhile): count again, on the newest row
                CONTINUE;
            END IF;
        END IF;
        v_ceiling := CASE
            WHEN lim.daily_limit > 0 AND lim.warmup_cap IS NOT NULL
                THEN LEAST(lim.daily_limit, lim.warmup_cap)
            WHEN lim.daily_limit > 0 THEN lim.daily_limit
            ELSE lim.warmup_cap END;
        remaining_today := CASE WHEN v_ceiling IS NOT NULL
                                THEN GREATEST(0, v_ceiling - sent_today) END;
        RETURN;
    END LOOP;
    RAISE EXCEPTION 'send decision of domain %: refused without a reason', p_domain_id
        USING ERRCODE = 'serialization_failure';
END
$$;

-- A domain name as the suite stores it (lower case, no trailing dot, ASCII:
-- callers give internationalised names in punycode), or NULL when it is not
-- a valid one: labels of 1-63 letters, digits or inner hyphens, at least
-- two, 253 characters at most, the last one not all digits.
CREATE OR REPLACE FUNCTION emboux_normalized_domain(p_name text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    n text := regexp_replace(lower(btrim(p_name)), '\.$', '');
BEGIN
    IF n ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
       AND n !~ '\.[0-9]+$' AND length(n) <= 253 THEN
        RETURN n;
    END IF;
    RETURN NULL;
END
$$;

-- The answer to one request of Postfix's policy delegation protocol
-- (SMTPD_POLICY_README), for the submission services: the sender's domain
-- must be hosted here; at RCPT a suppressed recipient is refused on its own;
-- at END-OF-MESSAGE the message is counted once per accepted recipient
-- (p_recipient_count) with its size, or refused: 4xx for a limit (the
-- client retries later), 5xx for a domain that may not send at all. Any
-- other state: DUNNO. A null sender (a bounce or a read receipt, MAIL
-- FROM:<>) from an authenticated client counts against its login
-- (p_sasl_username), so <> is no way around the limits; without a login
-- (no submission client): DUNNO. reason: the send decision's (a
-- refusal's, or the limit a soft enforcement let through).
-- SECURITY DEFINER: the policy service's role may EXECUTE this and nothing
-- else.
CREATE OR REPLACE FUNCTION emboux_policy_action(
    p_protocol_state text, p_sender text, p_recipient text,
    p_recipient_count integer, p_size bigint, p_sasl_username text,
    OUT action text, OUT reason text)
LANGUAGE plpgsql SECURITY DEFINER SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_state text := upper(COALESCE(p_protocol_state, ''));
    v_sender text := COALESCE(NULLIF(btrim(COALESCE(p_sender, '')), ''),
                              btrim(COALESCE(p_sasl_username, '')));
    v_domain text;
    v_domain_id integer;
    v_recipient text;
    d record;
BEGIN
    action := 'DUNNO';
    IF v_state NOT IN ('RCPT', 'END-OF-MESSAGE') OR v_sender = '' THEN
        RETURN;
    END IF;
    -- the sender's domain as emboux_normalized_domain writes it; a hosted
    -- domain's name is a valid one (the suite stores it so): the validity
    -- (three regular expressions) is checked only for a name not found
    v_domain := lower(btrim(substring(v_sender FROM '@([^@]*)$')));
    IF right(v_domain, 1) = '.' THEN
        v_domain := left(v_domain, -1);
    END IF;
    SELECT id INTO v_domain_id FROM emboux_domain WHERE name = v_domain;
    IF NOT FOUND THEN
        IF emboux_normalized_domain(substring(v_sender FROM '@([^@]*)$')) IS NULL THEN
            action := '554 5.7.1 Sender address rejected: not a valid domain';
        ELSE
            action := format('554 5.7.1 Sender address rejected: %s is not hosted here',
                             v_domain);
        END IF;
        RETURN;
    END IF;
    IF v_state = 'RCPT' THEN
        v_recipient := lower(btrim(COALESCE(p_recipient, '')));
        v_recipient := regexp_replace(v_recipient, '\.$', '');
        IF v_recipient <> '' AND EXISTS (
                SELECT 1 FROM emboux_suppression x WHERE x.email = v_recipient) THEN
            action := format('550 5.7.1 <%s>: recipient is on the suppression list', v_recipient);
            reason := 'suppressed';
        END IF;
        RETURN;
    END IF;
    d := emboux_send_decision(
        v_domain_id, GREATEST(COALESCE(p_recipient_count, 1), 1),
        GREATEST(COALESCE(p_size, 0), 0), '{}'::text[]);
    reason := d.reason;
    IF d.allowed THEN
        RETURN;
    END IF;
    action := CASE d.reason
        WHEN 'suspended' THEN '554 5.7.1 sending is suspended for ' || v_domain
        WHEN 'unverified' THEN '554 5.7.1 ' || v_domain
                               || ' is not verified at its mail provider yet'
        WHEN 'paused' THEN '554 5.7.1 sending is paused for ' || v_domain
        WHEN 'guillotined' THEN '554 5.7.1 sending is stopped for ' || v_domain
                                || ': bounce or complaint rate too high'
        WHEN 'daily_limit' THEN '451 4.7.1 daily sending limit reached for ' || v_domain
        WHEN 'monthly_limit' THEN '451 4.7.1 monthly sending limit reached for ' || v_domain
        WHEN 'hourly_limit' THEN '451 4.7.1 hourly sending limit reached for ' || v_domain
        WHEN 'warmup_cap' THEN '451 4.7.1 warm-up cap of today reached for ' || v_domain
        WHEN 'spike' THEN '451 4.7.1 unusual sending volume for ' || v_domain
                          || ', try again later'
        WHEN 'transfer_limit' THEN '451 4.7.1 monthly transfer limit reached for ' || v_domain
        ELSE format('451 4.7.1 sending refused for %s (%s)', v_domain, d.reason)
    END;
END
$$;
