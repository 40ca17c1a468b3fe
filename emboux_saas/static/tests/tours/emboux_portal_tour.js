import { registry } from "@web/core/registry";

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
        {
            content: "Type the address",
            trigger: ".o_emboux_mailbox_create input[name='local_part']",
            run: "edit info",
        },
        {
            content: "Type the display name",
            trigger: ".o_emboux_mailbox_create input[name='name']",
            run: "edit Info Desk",
        },
        {
            content: "Type the password",
            trigger: ".o_emboux_mailbox_create input[name='password']",
            run: "edit correct-horse-battery",
        },
        {
            content: "Make it the catch-all",
            trigger: ".o_emboux_mailbox_create input[name='catch_all']",
            run: "check",
        },
        {
            content: "Create the mailbox",
            trigger: ".o_emboux_mailbox_create button[type='submit']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The mailbox was created",
            trigger: ".o_emboux_message:contains('The mailbox was created')",
        },
        {
            content: "The mailbox is listed",
            trigger: "#mailboxes a:contains('info@tour.example.com')",
        },
        {
            content: "Its catch-all alias is listed",
            trigger: ".o_emboux_alias:contains('@tour.example.com'):contains('catch-all'):contains('info@tour.example.com')",
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
