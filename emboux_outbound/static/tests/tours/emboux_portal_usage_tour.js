import { registry } from "@web/core/registry";

// What a customer sees of its sending: on the domain list, today's count
// against the daily limit; on the domain page, each count against its
// limit as a bar and the last 30 days as a chart. The test keeps a
// screenshot of the page the tour ends on and checks the chart's pixels.
registry.category("web_tour.tours").add("emboux_portal_usage_tour", {
    url: "/my/domains",
    steps: () => [
        {
            content: "The list shows today's count against the daily limit",
            trigger: ".o_emboux_domain_sent_today[data-sent='15'][data-limit='100']:contains('15 / 100')",
        },
        {
            content: "With a green bar at 15%",
            trigger: ".o_emboux_domain_sent_today .progress[aria-valuenow='15'] .progress-bar.text-bg-success",
        },
        {
            content: "Open the domain",
            trigger: "a:contains('usage.example.com')",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Sent today: 15 of 100, green",
            trigger: "#usage .o_emboux_usage_gauge[data-key='daily'][data-used='15'][data-limit='100']:contains('Sent today') .progress-bar.text-bg-success",
        },
        {
            content: "Sent this hour: 15 of 17, past 80%: amber",
            trigger: "#usage .o_emboux_usage_gauge[data-key='hourly'][data-used='15'][data-limit='17'] .progress-bar.text-bg-warning",
        },
        {
            content: "Sent this month against the plan's 2,000",
            trigger: "#usage .o_emboux_usage_gauge[data-key='monthly'][data-limit='2000']:contains('Sent this month')",
        },
        {
            content: "No transfer limit reads as such",
            trigger: "#usage .o_emboux_usage_gauge[data-key='transfer']:contains('no limit')",
        },
        {
            content: "The chart's totals over the 30 days",
            trigger: "#usage .o_emboux_usage_totals:contains('2091 sent'):contains('12 bounces'):contains('3 complaints')",
        },
        {
            content: "Thirty days in the chart, today's the last with 15",
            trigger: "#usage svg:not(:has(g.o_emboux_usage_day:nth-of-type(31))) g.o_emboux_usage_day:nth-of-type(30)[data-sent='15']",
        },
        {
            content: "The busiest day is named",
            trigger: "#usage .o_emboux_usage_chart:contains('busiest day 100 messages')",
        },
    ],
});
