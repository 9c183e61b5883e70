"""The two-entry knowledge base the staff tests teach, reload and answer from."""

FAQ = """
entries:
  - id: canteen.hours
    questions:
      zh: [食堂几点开门, 食堂几点开饭]
      en: [When does the canteen open?]
    answer:
      zh: 食堂每天 7:00 开门。
      en: The canteen opens at 7:00.
  - id: donation.how
    questions:
      zh: [怎么捐款]
      en: [How can I donate?]
    answer:
      zh: 到服务台捐款。
      en: Donate at the front desk.
"""
