"""Actions for data-subject requests, one module per conversation step:

    start        action_start_task: what the visitor asked for, switches and additions
    validation   validate_request_form: each answer, and what is not an answer
    asking       action_ask_*: the form's questions and the confirmation summary
    filing       action_file_request, action_finish_request
    status       action_show_status, action_cancel_task
    questions    questions about the request itself, answered from its facts; requests
                 asked as questions, offered one button per type (issue 24)
    common       the form's slots and intents, and the tracker helpers they share
    replies      the texts they build

Security model: slots steer the conversation but never decide anything. Whether
the visitor is verified, and what exactly they confirmed, is read from the
database (VerifiedConversation, RequestDraft), so a typed `/intent{...}` payload
cannot skip verification or confirmation.

Conversations bend (docs: Rasa "unhappy paths"): the request form's validator
rejects the form for a message that isn't an answer to the pending question (a
policy question, chitchat, another request type, "what is this code for?"), so
the rules in data/rules/digressions.yml answer it and bring the form back; the
form's action_ask_* then restate the pending question briefly.
"""
