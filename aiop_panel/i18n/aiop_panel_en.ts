<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
  <context>
    <name>Panel</name>
    <message>
      <source>All-in-one Panel</source>
      <translation>All-in-one Panel</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Cancel</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>Cancelled</translation>
    </message>
    <message>
      <source>Confirm</source>
      <translation>Confirm</translation>
    </message>
    <message>
      <source>Have you put the manifest in the drop box?</source>
      <translation>Have you put the manifest in the drop box?</translation>
    </message>
    <message>
      <source>Is this truck empty (unladen)?</source>
      <translation>Is this truck empty (unladen)?</translation>
    </message>
    <message>
      <source>Manifest box out of order: please see the officer</source>
      <translation>Manifest box out of order: please see the officer</translation>
    </message>
    <message>
      <source>Manifest dropped</source>
      <translation>Manifest dropped</translation>
    </message>
    <message>
      <source>No vehicle</source>
      <translation>No vehicle</translation>
    </message>
    <message>
      <source>Not available now</source>
      <translation>Not available now</translation>
    </message>
    <message>
      <source>Received by the lane</source>
      <translation>Received by the lane</translation>
    </message>
    <message>
      <source>Sent. Please wait</source>
      <translation>Sent. Please wait</translation>
    </message>
    <message>
      <source>Unladen Vehicle</source>
      <translation>Unladen Vehicle</translation>
    </message>
    <message>
      <source>Vehicle {vrn}</source>
      <translation>Vehicle {vrn}</translation>
    </message>
  </context>
</TS>
