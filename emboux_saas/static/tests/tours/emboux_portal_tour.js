import { registry } from "@web/core/registry";
import { createCatchAllMailbox } from "@emboux_saas/../tests/tours/utils/mailbox_steps";

// The main portal flow: from /my to a domain, create a mailbox with
// catch-all, see it with its catch-all alias and the DNS records.
registry.category("web_tour.tours").add("emboux_portal_tour", {
    url: "/my",
    steps: () => [
        {
            content: "Open the mail domains from the portal home",
            trigger: ".o_portal_index_card:not(.d-none) a[href='/my/domains']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Open the domain",
            trigger: "a[href^='/my/domains/']:contains('tour.example.com')",
            run: "click",
            expectUnloadPage: true,
        },
        ...createCatchAllMailbox("info", "tour.example.com", "Info Desk"),
        {
            content: "The mailbox is listed",
            trigger: "#mailboxes a:contains('info@tour.example.com')",
        },
        {
            content: "The MX record to publish",
            trigger: ".o_emboux_dns tr[data-record-type='MX']:contains('mx.tour-host.test')",
        },
        {
            content: "The SPF record to publish",
            trigger: ".o_emboux_dns tr[data-record-type='TXT']:contains('v=spf1')",
        },
    ],
});
