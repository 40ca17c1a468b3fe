// Steps shared by the portal tours (emboux_saas, emboux_outbound): on a
// domain's page, create a catch-all mailbox and see its catch-all alias.

/**
 * @param {string} localPart the address before the "@"
 * @param {string} domain the domain whose page the tour is on
 * @param {string} [name] a display name to type, if any
 */
export function createCatchAllMailbox(localPart, domain, name) {
    const steps = [
        {
            content: "Type the address",
            trigger: ".o_emboux_mailbox_create input[name='local_part']",
            run: `edit ${localPart}`,
        },
    ];
    if (name) {
        steps.push({
            content: "Type the display name",
            trigger: ".o_emboux_mailbox_create input[name='name']",
            run: `edit ${name}`,
        });
    }
    steps.push(
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
            content: "Its catch-all alias is listed",
            trigger: `.o_emboux_alias:contains('@${domain}'):contains('catch-all'):contains('${localPart}@${domain}')`,
        }
    );
    return steps;
}
